"""The time from ``display(frame)`` to the frame's file on screen, against the real CoCalc of
``tools/real-cocalc`` (its front end, its kiosk page that never opens its file, upstream #8527),
over plain http, where CoCalc's IFrame bridge never answers (it refuses http parents):

- **before** (the baseline, same run): a frame in mode ``"auto"`` waits ``bridge_wait`` (10 s)
  for the bridge, then falls back to navigating, and CoCalc's plain file page shows the file;
- **after**: the same frame, with the memory an earlier frame left in this browser (localStorage,
  per CoCalc origin): it navigates at once.

One JupyterLab (http) and Debian's Chromium (Playwright), one notebook; each run re-runs the
frame's cell (the new view replaces the old) on a file of its own whose text is a unique marker,
and times from the click that runs the cell to the marker in the IFrame's text. The memory is
cleared before each *before* run, which leaves it for the *after* run that follows. A warm-up
pair first (not counted) loads CoCalc's bundles into the browser's cache.

Usage: ``python bench/frame_first_file.py [--quick] [--runs N] [--env-file FILE] [--host URL]``
(default: the env file of ``tools/real-cocalc start``). Prints a table and writes
``bench/results/frame_first_file.json`` (``.quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "real"), str(ROOT / "tests" / "browser")]

from _common import median, save, table  # noqa: E402
from _real_frame import (  # noqa: E402
    LabNotebook,
    launch_chromium,
    new_context,
    start_lab,
    wait_text,
    write_notebook,
)
from _real_server import ENV_FILE, parse  # noqa: E402

KEY_PREFIX = "cocalc-widgets:no-bridge:"
NO_FULLSCREEN = "clipboard-read; clipboard-write"  # CoCalc's kiosk page asks for fullscreen


def _cells(env: dict[str, str], host: str, pid: str, paths: list[str]) -> list[str]:
    return [
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"client = CoCalcClient({env['COCALC_API_KEY']!r}, host={host!r})\n"
        f"paths = {paths!r}\n"
        "print('READY')",
        f"frame = CoCalcFrame({pid!r}, paths.pop(0), client=client,\n"
        f"                    account_id={env['COCALC_ACCOUNT_ID']!r}, height=300,\n"
        f"                    allow={NO_FULLSCREEN!r})\n"
        "frame",
    ]


def _forget(page: Any) -> None:
    page.evaluate(
        f"() => Object.keys(localStorage).filter(k => k.startsWith({KEY_PREFIX!r}))"
        ".forEach(k => localStorage.removeItem(k))"
    )


def _remembered(page: Any) -> bool:
    return bool(
        page.evaluate(f"() => Object.keys(localStorage).some(k => k.startsWith({KEY_PREFIX!r}))")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env-file", type=Path, default=ENV_FILE, help=f"default {ENV_FILE}")
    ap.add_argument("--host", help="CoCalc's http URL (default: COCALC_HOST of the env file)")
    ap.add_argument("--runs", type=int, default=3, help="measured pairs (default 3)")
    ap.add_argument("--quick", action="store_true", help="one pair, no warm-up")
    a = ap.parse_args()
    if not a.env_file.is_file():
        print(f"no env file {a.env_file}: run tools/real-cocalc start", file=sys.stderr)
        return 2
    env = parse(a.env_file.read_text())
    host = (a.host or env["COCALC_HOST"]).rstrip("/")
    try:
        import requests

        requests.get(host + "/healthcheck", timeout=5)  # any HTTP answer: the server is up
    except requests.RequestException as err:
        print(f"CoCalc at {host} does not answer ({type(err).__name__})", file=sys.stderr)
        return 2
    runs = 1 if a.quick else a.runs
    warm = 0 if a.quick else 1
    from playwright.sync_api import sync_playwright

    from cocalc_widgets import CoCalcClient

    client = CoCalcClient(env["COCALC_API_KEY"], host=host)
    pid = client.create_project(title=f"cw-bench frame {uuid.uuid4().hex[:8]}", start=True)
    plan = [(i, kind) for i in range(warm + runs) for kind in ("before", "after")]
    markers = {}
    for i, kind in plan:
        path = f"run{i}-{kind}.txt"
        markers[(i, kind)] = f"marker {path} {uuid.uuid4().hex[:12]}"
        client.write_text_file_to_project(pid, path, markers[(i, kind)] + "\n")
    times: dict[str, list[float]] = {"before": [], "after": []}
    modes: dict[str, list[str]] = {"before": [], "after": []}
    aborted: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-frame-") as tmp:
        lab = start_lab(Path(tmp) / "lab")
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p, None, Path(tmp) / "home")
                ctx = new_context(browser, aborted)
                page = ctx.new_page()
                cells = _cells(env, host, pid, [f"run{i}-{k}.txt" for i, k in plan])
                write_notebook(lab.root_dir / "first_file.ipynb", cells)
                nb = LabNotebook(page, lab, "first_file.ipynb").open()
                nb.run_cell(0, timeout=120)
                for i, kind in plan:
                    if kind == "before":
                        _forget(page)
                    else:
                        assert _remembered(page), "the before run left no memory"
                    start = time.monotonic()
                    nb.run_cell(1, timeout=120)
                    wait_text(page, markers[(i, kind)], timeout=180)
                    took = time.monotonic() - start
                    line = page.locator(".cocalc-frame-status").first
                    mode = line.get_attribute("data-mode") or ""
                    text = line.inner_text()
                    assert mode == "navigate", f"run {i} {kind}: mode {mode!r}: {text}"
                    if kind == "after":
                        assert "remembered" in text, text
                    counted = i >= warm
                    print(
                        f"{'run' if counted else 'warm-up'} {i} {kind}: {took:.1f} s "
                        f"({mode}: {text[:100]})",
                        flush=True,
                    )
                    if counted:
                        times[kind].append(took)
                        modes[kind].append(mode)
                browser.close()
        finally:
            lab.stop()
    before, after = median(times["before"]), median(times["after"])
    rows = [
        [
            "before: auto, waits bridge_wait (10 s) then navigates",
            len(times["before"]),
            before,
            min(times["before"]),
            max(times["before"]),
        ],
        [
            "after: auto, remembered: navigates at once",
            len(times["after"]),
            after,
            min(times["after"]),
            max(times["after"]),
        ],
    ]
    print()
    what = f"frame over http, CoCalc {str(env.get('COCALC_COMMIT', '?'))[:12]}"
    print(table([what, "runs", "median s", "min s", "max s"], rows))
    print(f"\nafter / before = {after / before:.2f} (saved {before - after:.1f} s)")
    path = save(
        "frame_first_file",
        {
            "cocalc_commit": env.get("COCALC_COMMIT"),
            "host": host,
            "runs": runs,
            "seconds": times,
            "modes": modes,
            "median_before_s": before,
            "median_after_s": after,
            "ratio": after / before,
            "aborted_requests": sorted(set(aborted)),
        },
        quick=a.quick,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
