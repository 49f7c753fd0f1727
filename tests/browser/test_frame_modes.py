"""CoCalcFrame's modes in a real JupyterLab, in Debian's Chromium, against the emulator standing in
for a CoCalc whose kiosk page is broken (upstream #8527), has no IFrame bridge, or answers slowly:
mode "auto" falls back to navigating within bridge_wait plus one page load and its commands work
there; a slow bridge keeps bridge mode; mode "bridge" gives the explanatory timeout; commands
issued before the decision complete."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _jupyterlab import JupyterLab, LabNotebook, write_notebook

from cocalc_widgets.frame import DEFAULT_BRIDGE_WAIT

pytestmark = pytest.mark.browser

FRAME = "iframe.cocalc-frame-iframe"

#: Room for what comes around bridge_wait in the fallback: running the cell, rendering the view,
#: the sign-in and kiosk pages before the wait starts, the file's own page after it. About 2 s on
#: an idle 2-core machine; a load average of 10 makes each page load take several seconds.
PAGE_LOADS = 15.0


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def _emulator(kiosk_emulator: Any, lab: JupyterLab, **settings: Any) -> Any:
    running = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=True, **settings)
    emu = running.extra["emulator"]
    pid = emu.create_project("modes")
    root = emu.project_path(pid)
    (root / "start.md").write_text("# the start page\n")
    (root / "other.md").write_text("# the other file\n")
    return emu, pid


def _frame_cell(emu: Any, pid: str, **frame_args: str) -> str:
    extra = "".join(f", {k}={v}" for k, v in frame_args.items())
    return (
        "import time, warnings\n"
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"client = CoCalcClient({emu.api_key!r}, host={emu.url!r})\n"
        f"frame = CoCalcFrame({pid!r}, 'start.md', client=client, account_id={emu.account_id!r},\n"
        f"                    height=260{extra})\n"
        "t0 = time.monotonic()\n"
        "frame"
    )


def _shown(page: Any) -> tuple[str, str, str]:
    """(page kind, title, text) of what the frame's IFrame shows, read from one document."""
    body = page.frame_locator(FRAME).first.locator("body")
    kind, title, text = body.evaluate(
        "b => [b.dataset.page || '', "
        "(document.getElementById('kiosk-title') || {}).innerText || '', "
        "(document.getElementById('file-text') || {}).innerText || '']"
    )
    return kind, title, text


def _wait_shown(page: Any, want: str, timeout: float = 20.0) -> tuple[str, str, str]:
    deadline = time.monotonic() + timeout
    last = ("", "", "")
    while time.monotonic() < deadline:
        try:
            last = _shown(page)
            if want in last[2]:
                return last
        except Exception:  # the IFrame is between pages
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"the frame never showed {want!r}; last: {last}")


def test_auto_falls_back_to_navigating_on_a_broken_kiosk_page_and_commands_work(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="broken")
    cells = [
        # 0: a newcomer's frame, with the defaults (mode "auto", bridge_wait 10 s)
        _frame_cell(emu, pid),
        # 1: a command issued at once, before the mode is decided
        "early = frame.status(timeout=30)\n"
        "r = await early\n"
        "print('EARLY', r['status'], r.get('mode'), frame.mode)\n"
        "print('SWITCHED', round(time.monotonic() - t0, 1))\n"
        "print('LAST_ERROR', 'did not answer within 10 s' in frame.last_error)",
        # 2: open another file, then status and closeall, in navigate mode
        "r = await frame.open_file('other.md')\n"
        "print('OPEN', r['status'], r['path'], r['mode'])\n"
        "s = await frame.status()\n"
        f"print('STATUS', s['mode'], s['open_files'] == {{{pid!r}: ['other.md']}}, 'connection' in s)\n"
        "print('URL', s['url'])\n"
        "from cocalc_widgets import CommandError\n"
        "try:\n"
        "    frame.command('frob')\n"
        "except CommandError as e:\n"
        "    print('REFUSED', 'navigate mode' in str(e))",
        "c = await frame.closeall()\n"
        "print('CLOSEALL', c['status'], c['mode'])\n"
        "print('AFTER', (await frame.status())['open_files'])",
    ]
    write_notebook(lab.root_dir / "modes_broken.ipynb", cells)
    nb = LabNotebook(page, lab, "modes_broken.ipynb").open()
    start = time.monotonic()
    nb.run_cell(0, timeout=60)
    page.frame_locator(FRAME).first.locator("#content").wait_for(timeout=20000)
    assert page.frame_locator(FRAME).first.locator("#content").inner_text().strip() == "CoCalc:"
    wait = DEFAULT_BRIDGE_WAIT + 2 * PAGE_LOADS
    kind, title, _ = _wait_shown(page, "the start page", timeout=wait)
    shown_after = time.monotonic() - start
    assert kind == "plain" and title == "start.md"
    # The fallback waited bridge_wait for the bridge, then no longer than the pages around it.
    assert DEFAULT_BRIDGE_WAIT < shown_after < DEFAULT_BRIDGE_WAIT + PAGE_LOADS, shown_after
    out = nb.run_cell(1, timeout=60)
    assert _lines(out, "EARLY") == ["done navigate navigate"], out
    switched = float(_lines(out, "SWITCHED")[0])  # since the frame was made (rounded to 0.1 s)
    assert DEFAULT_BRIDGE_WAIT <= switched < DEFAULT_BRIDGE_WAIT + PAGE_LOADS, out
    assert _lines(out, "LAST_ERROR") == ["True"], out
    status_line = page.locator(".cocalc-frame-status").first
    assert "navigate mode" in status_line.inner_text()
    assert status_line.get_attribute("data-mode") == "navigate"

    out = nb.run_cell(2, timeout=60)
    assert _lines(out, "OPEN") == ["done other.md navigate"], out
    assert _lines(out, "STATUS") == ["navigate True False"], out
    assert _lines(out, "URL")[0].endswith(f"/projects/{pid}/files/other.md?fullscreen=project&session="), out
    assert _lines(out, "REFUSED") == ["True"], out
    kind, title, _ = _wait_shown(page, "the other file")
    assert (kind, title) == ("plain", "other.md")
    body = page.frame_locator(FRAME).first.locator("body")
    assert body.get_attribute("data-fullscreen") == "project"
    assert "did not answer within 10 s" in status_line.inner_text()  # the reason stays said
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "frame-navigate-mode")

    out = nb.run_cell(3, timeout=60)
    assert _lines(out, "CLOSEALL") == ["done navigate"], out
    assert _lines(out, "AFTER") == ["{}"], out
    assert page.frame_locator(FRAME).first.locator("body").get_attribute("data-page") == "plain"


def test_a_slow_bridge_within_bridge_wait_keeps_bridge_mode(
    lab: JupyterLab, kiosk_emulator: Any, page: Any
) -> None:
    # The kiosk page starts listening at half the (default) bridge_wait after it loaded: late,
    # but seconds before the fallback even when a loaded machine delays the page's timers and
    # messages (at 0.8 x a 3 s bridge_wait the margin was one 300 ms status poll).
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="ok",
                         kiosk_startup_delay=DEFAULT_BRIDGE_WAIT / 2)
    cells = [
        _frame_cell(emu, pid),
        "r = await frame.status(timeout=30)\n"
        "print('STATUS', r['status'], r.get('mode'), 'connection' in r, frame.mode)\n"
        "time.sleep(0)  # let late messages come\n",
        "await frame.open_file('other.md')\n"
        "import asyncio\n"
        f"await asyncio.sleep({DEFAULT_BRIDGE_WAIT})  # well past bridge_wait: the mode stays\n"
        "print('MODE', frame.mode, frame.ready)",
    ]
    write_notebook(lab.root_dir / "modes_slow.ipynb", cells)
    nb = LabNotebook(page, lab, "modes_slow.ipynb").open()
    nb.run_cell(0, timeout=60)
    out = nb.run_cell(1, timeout=60)
    assert _lines(out, "STATUS") == ["done None True bridge"], out
    out = nb.run_cell(2, timeout=60)
    assert _lines(out, "MODE") == ["bridge True"], out
    kind, title, _ = _wait_shown(page, "the other file")
    assert (kind, title) == ("kiosk", "other.md")


def test_mode_bridge_gives_the_explanatory_timeout_on_a_page_without_a_bridge(
    lab: JupyterLab, kiosk_emulator: Any, page: Any
) -> None:
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="no-bridge")
    cells = [
        _frame_cell(emu, pid, mode="'bridge'", bridge_wait="1"),
        "from cocalc_widgets import FrameNotReady\n"
        "try:\n"
        "    await frame.status(timeout=4)\n"
        "except FrameNotReady as e:\n"
        "    print('TIMEOUT', 'status polls' in str(e), 'iframe_comm_hosts' in str(e))\n"
        "print('MODE', frame.mode)",
    ]
    write_notebook(lab.root_dir / "modes_bridge.ipynb", cells)
    nb = LabNotebook(page, lab, "modes_bridge.ipynb").open()
    nb.run_cell(0, timeout=60)
    _wait_shown(page, "the start page")
    out = nb.run_cell(1, timeout=60)
    assert _lines(out, "TIMEOUT") == ["True True"], out
    assert _lines(out, "MODE") == ["bridge"], out
    kind, _, _ = _shown(page)
    assert kind == "kiosk"  # still the kiosk page: mode "bridge" never navigates


def test_mode_navigate_never_tries_the_bridge(lab: JupyterLab, kiosk_emulator: Any, page: Any) -> None:
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="ok")
    cells = [
        _frame_cell(emu, pid, mode="'navigate'"),
        "r = await frame.open_file('other.md')\n"
        "print('OPEN', r['status'], r['mode'], frame.mode, round(time.monotonic() - t0, 1))",
    ]
    write_notebook(lab.root_dir / "modes_navigate.ipynb", cells)
    nb = LabNotebook(page, lab, "modes_navigate.ipynb").open()
    nb.run_cell(0, timeout=60)
    kind, title, _ = _wait_shown(page, "the start page")
    assert (kind, title) == ("plain", "start.md")  # signed in, then the plain page: no kiosk page
    out = nb.run_cell(1, timeout=60)
    assert _lines(out, "OPEN")[0].startswith("done navigate navigate"), out
    _wait_shown(page, "the other file")
