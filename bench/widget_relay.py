"""Widget relay: ``await frame.status()`` through JupyterLab, Chromium and the emulator's kiosk
page, against a bare anywidget custom-message echo (Python -> JS -> Python, no IFrame) in the
same kernel session.

For each server setting (stock Jupyter Server, and TCP_NODELAY on the kernel websocket through
``cocalc_widgets.nodelay``) it starts an isolated JupyterLab on 127.0.0.1, an emulator that
allows the Lab origin, and Debian's Chromium (Playwright), then in one notebook:

- sequential round trips, interleaved (echo, frame, echo, frame, ...): median, p95, p99, max;
- a burst of commands issued at once (every handle created, then all awaited): half ``status``,
  half unknown actions ``bench-<i>`` whose error reply names the action, so each reply is checked
  against its own command; and a burst of echoes as the baseline.

Usage: ``python bench/widget_relay.py [--quick] [--n N] [--burst N] [--modes stock,nodelay]``.
Prints a table and writes ``bench/results/widget_relay.json`` (``.quick.json`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "browser")]

from _chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from _common import median, quantile, save, table  # noqa: E402

NODELAY_CONFIG = '\nc.ServerApp.jpserver_extensions = {"cocalc_widgets.nodelay": True}\n'
TARGET_STOCK_MEDIAN_MS = 15.0
TARGET_RATIO = 1.5
TARGET_BURST_PER_S = 300.0

SETUP = """\
import asyncio, itertools, json, time
import anywidget
from IPython.display import display
from cocalc_widgets.frame import CoCalcFrame

class Echo(anywidget.AnyWidget):
    _esm = '''export default { render({ model }) {
      const f = (m) => model.send(m);
      model.on("msg:custom", f);
      return () => model.off("msg:custom", f);
    } };'''

    def __init__(self):
        super().__init__()
        self._waiting = {}
        self._ids = itertools.count()
        self.on_msg(self._got)

    def _got(self, _w, content, _b):
        fut = self._waiting.pop(content.get("id"), None)
        if fut is not None and not fut.done():
            fut.set_result(content)

    def ping(self):
        i = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[i] = fut
        self.send({"id": i})
        return fut

echo = Echo()
frame = CoCalcFrame(PID, "hello.txt", host=HOST, height=160, timeout=60)
display(echo, frame)
"""

WARMUP = """\
await frame.status()
for _ in range(20):
    await echo.ping()
    await frame.status()
print("WARM", frame.ready, frame.views)
"""

SEQUENTIAL = """\
echo_ms, frame_ms = [], []
pc = time.perf_counter
for _ in range(N):
    t0 = pc(); await echo.ping(); echo_ms.append((pc() - t0) * 1000)
    t0 = pc(); await frame.status(); frame_ms.append((pc() - t0) * 1000)
json.dump({"echo_ms": echo_ms, "frame_ms": frame_ms}, open("seq.json", "w"))
print("SEQ", len(echo_ms), len(frame_ms))
"""

ALONE = """\
alone = {"echo_ms": [], "frame_ms": []}
pc = time.perf_counter
for _ in range(N // 2):
    t0 = pc(); await echo.ping(); alone["echo_ms"].append((pc() - t0) * 1000)
for _ in range(N // 2):
    t0 = pc(); await frame.status(); alone["frame_ms"].append((pc() - t0) * 1000)
# Output in the same cell: each print is flushed by ipykernel a moment later, an extra
# kernel->browser message that may overlap a command.
alone["echo_print_ms"], alone["frame_print_ms"] = [], []
for i in range(N // 10):
    print(".", end="")
    t0 = pc(); await echo.ping(); alone["echo_print_ms"].append((pc() - t0) * 1000)
    print(".", end="")
    t0 = pc(); await frame.status(); alone["frame_print_ms"].append((pc() - t0) * 1000)
print()
json.dump(alone, open("alone.json", "w"))
print("ALONE", len(alone["echo_ms"]))
"""

BURST = """\
from cocalc_widgets.errors import CommandError
t0 = time.perf_counter()
futs = [echo.ping() for _ in range(B)]
got = await asyncio.gather(*futs)
echo_s = time.perf_counter() - t0
echo_ok = sorted(g["id"] for g in got) == sorted(set(g["id"] for g in got)) and len(got) == B
t0 = time.perf_counter()
hs = [frame.status() if i % 2 == 0 else frame.command(f"bench-{i}") for i in range(B)]
res = await asyncio.gather(*hs, return_exceptions=True)
frame_s = time.perf_counter() - t0
bad = []
for i, (h, r) in enumerate(zip(hs, res)):
    if i % 2 == 0:
        ok = isinstance(r, dict) and r.get("status") == "done" and "connection" in r
    else:
        ok = isinstance(r, CommandError) and r.mesg == f"Unknown action 'bench-{i}'"
    if not ok or not h.done():
        bad.append((i, repr(r)[:200]))
ids = [id(h.reply) for h in hs]
json.dump({"n": B, "echo_s": echo_s, "echo_ok": echo_ok, "frame_s": frame_s,
           "bad": bad[:20], "n_bad": len(bad), "distinct_replies": len(set(ids)),
           "pending_after": len(frame.pending)}, open("burst.json", "w"))
print("BURST", B, len(bad))
"""


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": median(values),
        "p95_ms": quantile(values, 0.95),
        "p99_ms": quantile(values, 0.99),
        "max_ms": max(values) if values else float("nan"),
        "over_35ms": sum(1 for v in values if v > 35.0),
    }


def run_mode(mode: str, n: int, burst: int, browser: Any, work: Path) -> dict[str, Any]:
    from _jupyterlab import LabNotebook, start_jupyterlab, write_notebook

    from cocalc_widgets.emulator import Emulator

    base = work / mode
    lab = start_jupyterlab(base, server_config=NODELAY_CONFIG if mode == "nodelay" else "")
    emu = None
    context = None
    try:
        emu = Emulator(
            data_dir=base / "emulator",
            dev_http_origins=[lab.origin],
            require_sign_in=False,
            kiosk_startup_delay=0.0,
        ).start()
        pid = emu.state.create_project(title="bench")
        (emu.state.project_dir(pid) / "hello.txt").write_text("hello\n")
        cells = [
            f"PID, HOST, N, B = {pid!r}, {emu.url!r}, {n}, {burst}\n" + SETUP,
            WARMUP,
            SEQUENTIAL,
            ALONE,
            BURST,
        ]
        write_notebook(lab.root_dir / "relay.ipynb", cells)
        context = browser.new_context(viewport={"width": 1000, "height": 700})
        page = context.new_page()
        nb = LabNotebook(page, lab, "relay.ipynb").open()
        nb.run_cell(0)
        out = nb.run_cell(1, timeout=60)
        if "WARM True" not in out:
            raise RuntimeError(f"frame not ready: {out}")
        t0 = time.monotonic()
        out = nb.run_cell(2, timeout=max(120, n * 0.2))
        seq_wall = time.monotonic() - t0
        if "SEQ" not in out:
            raise RuntimeError(f"sequential cell failed: {out}")
        seq = json.loads((lab.root_dir / "seq.json").read_text())
        out = nb.run_cell(3, timeout=max(120, n * 0.2))
        if "ALONE" not in out:
            raise RuntimeError(f"back-to-back cell failed: {out}")
        alone = json.loads((lab.root_dir / "alone.json").read_text())
        out = nb.run_cell(4, timeout=max(120, burst * 0.2))
        if "BURST" not in out:
            raise RuntimeError(f"burst cell failed: {out}")
        b = json.loads((lab.root_dir / "burst.json").read_text())
    finally:
        if context is not None:
            context.close()
        if emu is not None:
            emu.stop()
        lab.stop()
    echo, frame = _stats(seq["echo_ms"]), _stats(seq["frame_ms"])
    return {
        "mode": mode,
        "sequential": {"echo": echo, "frame": frame, "wall_s": seq_wall},
        "ratio_median": frame["median_ms"] / echo["median_ms"],
        "back_to_back": {k.removesuffix("_ms"): _stats(v) for k, v in alone.items()},
        "burst": {
            **b,
            "echo_per_s": b["n"] / b["echo_s"],
            "frame_per_s": b["n"] / b["frame_s"],
        },
        "raw_ms": seq,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run (100 round trips, burst 100)")
    ap.add_argument("--n", type=int, default=None, help="round trips of each kind (default 1000)")
    ap.add_argument("--burst", type=int, default=None, help="commands in the burst (default 1000)")
    ap.add_argument("--modes", default="stock,nodelay", help="stock,nodelay (default both)")
    args = ap.parse_args(argv)
    n = args.n or (100 if args.quick else 1000)
    burst = args.burst or (100 if args.quick else 1000)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for mode in modes:
                print(f"[{mode}] running {n} + {n} round trips and a burst of {burst}...", flush=True)
                results.append(run_mode(mode, n, burst, browser, Path(tmp)))
        finally:
            browser.close()

    rows = []
    for r in results:
        s = r["sequential"]
        for kind in ("echo", "frame"):
            st = s[kind]
            per_s = r["burst"][f"{kind}_per_s"]
            rows.append([r["mode"], f"{kind} (interleaved)", st["n"], st["median_ms"], st["p95_ms"], st["p99_ms"],
                         st["max_ms"], st["over_35ms"], per_s])
        for kind, label in [("echo", "echo (back to back)"), ("frame", "frame (back to back)"),
                            ("echo_print", "echo, print before"),
                            ("frame_print", "frame, print before")]:
            st = r["back_to_back"][kind]
            rows.append([r["mode"], label, st["n"], st["median_ms"],
                         st["p95_ms"], st["p99_ms"], st["max_ms"], st["over_35ms"], ""])
    print()
    print(table(["server", "kind", "n", "median ms", "p95 ms", "p99 ms", "max ms", ">35 ms",
                 "burst cmd/s"], rows))
    targets = {}
    for r in results:
        fm = r["sequential"]["frame"]["median_ms"]
        if r["mode"] == "stock":
            targets["stock_frame_median_le_15ms"] = fm <= TARGET_STOCK_MEDIAN_MS
        if r["mode"] == "nodelay":
            targets["nodelay_ratio_le_1.5"] = r["ratio_median"] <= TARGET_RATIO
        b = r["burst"]
        targets[f"{r['mode']}_burst_lossless"] = (
            b["n_bad"] == 0 and b["pending_after"] == 0 and b["echo_ok"]
        )
        targets[f"{r['mode']}_burst_ge_300_per_s"] = b["frame_per_s"] >= TARGET_BURST_PER_S
    print()
    for r in results:
        b = r["burst"]
        print(f"{r['mode']}: frame/echo median ratio {r['ratio_median']:.2f}; burst of {b['n']}: "
              f"{b['n_bad']} wrong or lost, {b['pending_after']} pending, "
              f"{b['frame_per_s']:.0f} commands/s (echo {b['echo_per_s']:.0f}/s)")
    for name, ok in targets.items():
        print(f"  {'met ' if ok else 'MISSED'}  {name}")
    for r in results:
        r.pop("raw_ms") if args.quick else None
    path = save("widget_relay", {"n": n, "burst": burst, "results": results, "targets": targets},
                quick=args.quick)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
