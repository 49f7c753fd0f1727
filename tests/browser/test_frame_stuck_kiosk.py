"""CoCalcFrame against a kiosk page stuck on its banner (the emulator's ``kiosk="stuck"``, as
CoCalc master 5cb3315c: the URL's file never opens, the IFrame bridge answers), and the memory
of a bridge that never answered, in a real JupyterLab and Debian's Chromium:

- stuck: the frame opens its own file through the bridge, once, before it reports ready, with
  no extra kernel<->browser message (the kinds the kernel receives are counted);
- memory: a frame whose mode "auto" fell back leaves (origin, time) in the notebook page's
  localStorage; the next frame in mode "auto" navigates at once and says why; an expired entry
  makes the next frame try the bridge again; a bridge that answers removes the entry.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from _jupyterlab import JupyterLab, LabNotebook, write_notebook

pytestmark = pytest.mark.browser

FRAME = "iframe.cocalc-frame-iframe"
KEY = "cocalc-widgets:no-bridge:"


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def _emulator(kiosk_emulator: Any, lab: JupyterLab, **settings: Any) -> tuple[Any, str]:
    running = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=True, **settings)
    emu = running.extra["emulator"]
    pid = emu.create_project("stuck")
    root = emu.project_path(pid)
    (root / "start.md").write_text("# the start page\n")
    (root / "other.md").write_text("# the other file\n")
    return emu, pid


def _frame(emu: Any, pid: str, name: str = "frame", **args: str) -> str:
    extra = "".join(f", {k}={v}" for k, v in args.items())
    return (
        f"{name} = CoCalcFrame({pid!r}, 'start.md', client=client, "
        f"account_id={emu.account_id!r}, height=200{extra})\n"
        f"{name}_kinds = []\n"
        f"{name}.on_msg(lambda w, c, b, k={name}_kinds: k.append(c.get('kind')))\n"
        f"{name}"
    )


def _setup(emu: Any) -> str:
    return (
        "import time\n"
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"client = CoCalcClient({emu.api_key!r}, host={emu.url!r})\n"
        "print('READY')"
    )


def _shown(page: Any, nth: int) -> tuple[str, str, str]:
    body = page.frame_locator(FRAME).nth(nth).locator("body")
    kind, title, text = body.evaluate(
        "b => [b.dataset.page || '', "
        "(document.getElementById('kiosk-title') || {}).innerText || '', "
        "(document.getElementById('file-text') || {}).innerText || '']"
    )
    return kind, title, text


def _wait_shown(page: Any, want: str, nth: int = 0, timeout: float = 30.0) -> tuple[str, str, str]:
    deadline = time.monotonic() + timeout
    last = ("", "", "")
    while time.monotonic() < deadline:
        try:
            last = _shown(page, nth)
            if want in last[2]:
                return last
        except Exception:  # the IFrame is between pages
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"frame {nth} never showed {want!r}; last: {last}")


def _memory(page: Any) -> dict[str, Any]:
    return page.evaluate(
        f"() => Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith({KEY!r}))"
        ".map(k => [k, localStorage.getItem(k)]))"
    )


def test_the_stuck_kiosk_page_itself_ignores_its_file_but_its_bridge_is_there(
    tmp_path: Any,
) -> None:
    from cocalc_widgets.emulator import KIOSK_SETTINGS, Emulator

    assert "stuck" in KIOSK_SETTINGS
    with Emulator(data_dir=tmp_path, kiosk="stuck", require_sign_in=False) as emu:
        pid = emu.create_project("p")
        (emu.project_path(pid) / "a.txt").write_text("hello")
        stuck = requests.get(
            f"{emu.url}/projects/{pid}/files/a.txt?fullscreen=kiosk&session=", timeout=10
        ).text
        plain = requests.get(
            f"{emu.url}/projects/{pid}/files/a.txt?fullscreen=project&session=", timeout=10
        ).text
    config = json.loads(stuck.split('id="kiosk-config">')[1].split("</script>")[0])
    assert config["doc"] is None and config["bridge"] is True and config["kiosk"] is True
    assert 'data-emulator-kiosk="stuck"' in stuck
    assert '"text": "hello"' in plain  # plain pages show the file whatever the setting


def test_a_stuck_kiosk_page_shows_the_frame_file_through_the_bridge(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="stuck")
    cells = [
        _setup(emu),
        _frame(emu, pid),
        "r = await frame.status(timeout=30)\n"
        f"print('STATUS', frame.mode, r['open_files'] == {{{pid!r}: ['start.md']}})\n"
        f"print('TRAIT', frame.open_files == {{{pid!r}: ['start.md']}}, frame.ready)\n"
        "print('REASON', frame.mode_reason)\n"
        "print('KINDS', [k for k in frame_kinds if k != 'log'], frame_kinds.count('log'))",
        "r = await frame.open_file('other.md')\nprint('OPEN', r['status'], r['path'], frame.mode)",
    ]
    write_notebook(lab.root_dir / "stuck.ipynb", cells)
    nb = LabNotebook(page, lab, "stuck.ipynb").open()
    nb.run_cell(0, timeout=60)
    nb.run_cell(1, timeout=60)
    kind, title, _ = _wait_shown(page, "the start page")
    assert (kind, title) == ("kiosk", "start.md")  # the kiosk page, opened by the bridge
    out = nb.run_cell(2, timeout=60)
    assert _lines(out, "STATUS") == ["bridge True"], out
    assert _lines(out, "TRAIT") == ["True True"], out
    assert _lines(out, "REASON") == ["CoCalc's IFrame bridge answered"], out
    # What the kernel heard: the view, the mode, ready (the own file's open inside it), the reply,
    # and CoCalc's project-log event of that open (a working kiosk page sends one too).
    assert _lines(out, "KINDS") == ["['hello', 'mode', 'state', 'reply'] 1"], out
    out = nb.run_cell(3, timeout=60)
    assert _lines(out, "OPEN") == ["done other.md bridge"], out
    _wait_shown(page, "the other file")
    status_line = page.locator(".cocalc-frame-status").first
    assert status_line.inner_text().startswith("CoCalc · ready")
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "frame-stuck-kiosk")


def test_a_silent_bridge_is_remembered_until_it_expires_and_an_answer_forgets_it(
    lab: JupyterLab, kiosk_emulator: Any, page: Any
) -> None:
    emu, pid = _emulator(kiosk_emulator, lab, kiosk="broken")
    cells = [
        _setup(emu),
        # 1: the first frame waits out bridge_wait, falls back and remembers
        _frame(emu, pid, "f1", bridge_wait="2"),
        "r = await f1.status(timeout=40)\nprint('F1', f1.mode, f1.mode_reason)",
        # 3: the next frame navigates at once, saying why (bridge_wait is long: it never waits)
        "t0 = time.monotonic()\n" + _frame(emu, pid, "f2", bridge_wait="30"),
        "r = await f2.status(timeout=40)\n"
        "print('F2', f2.mode, round(time.monotonic() - t0, 1))\n"
        "print('REASON2', f2.mode_reason)\n"
        "print('KINDS2', f2_kinds)",
        # 5: after the entry expired (the test ages it) the bridge is tried again, and answers
        _frame(emu, pid, "f3", bridge_wait="20"),
        "r = await f3.status(timeout=40)\nprint('F3', f3.mode, f3.ready)",
    ]
    write_notebook(lab.root_dir / "memory.ipynb", cells)
    nb = LabNotebook(page, lab, "memory.ipynb").open()
    nb.run_cell(0, timeout=60)
    nb.run_cell(1, timeout=60)
    out = nb.run_cell(2, timeout=60)
    assert _lines(out, "F1") == ["navigate CoCalc's IFrame bridge did not answer within 2 s"], out
    memory = _memory(page)
    assert list(memory) == [KEY + emu.url.rstrip("/")], memory
    entry = json.loads(next(iter(memory.values())))
    assert set(entry) == {"origin", "at"} and entry["origin"] == emu.url.rstrip("/")
    assert emu.api_key not in json.dumps(memory)
    hhmm = page.evaluate(
        "at => { const d = new Date(at); return String(d.getHours()).padStart(2, '0') + ':' + "
        "String(d.getMinutes()).padStart(2, '0'); }",
        entry["at"],
    )

    nb.run_cell(3, timeout=60)
    out = nb.run_cell(4, timeout=60)
    mode, seconds = _lines(out, "F2")[0].split()
    assert mode == "navigate" and float(seconds) < 15, out  # not the 30 s bridge_wait
    assert _lines(out, "REASON2") == [
        f"remembered: CoCalc's bridge did not answer here at {hhmm}"
    ], out
    assert _lines(out, "KINDS2") == ["['hello', 'mode', 'reply']"], out
    kind, title, _ = _wait_shown(page, "the start page", nth=1)
    assert (kind, title) == ("plain", "start.md")
    line = page.locator(".cocalc-frame-status").nth(1)
    assert f"remembered: CoCalc's bridge did not answer here at {hhmm}" in line.inner_text()
    assert "mode='bridge'" in line.inner_text()

    # An hour and more later (aged by hand), with a bridge that works now.
    page.evaluate(
        "([k, e]) => localStorage.setItem(k, JSON.stringify({...e, at: e.at - 3600001}))",
        [next(iter(memory)), entry],
    )
    emu.kiosk = "ok"
    nb.run_cell(5, timeout=60)
    out = nb.run_cell(6, timeout=60)
    assert _lines(out, "F3") == ["bridge True"], out
    assert _memory(page) == {}, "the answer forgot the memory"
