"""CoCalcFrame in Jupyter Notebook 7, in Debian's Chromium, against the emulator.

One Notebook 7 server per module (``jupyter notebook``, isolated like the Lab tests' server) whose
kernels get the demo's environment (COCALC_HOST, COCALC_API_KEY, COCALC_ACCOUNT_ID); one emulator
seeded with the demo projects that allows the server's origin. Both are on 127.0.0.1, so the kiosk
page's sign-in cookie is same-site. Every cell runs through Notebook 7's UI.

- ``notebooks/embedding.ipynb`` runs with no error and the IFrames show the files its cells open
  (as tests/browser/test_notebook_embedding.py checks in Lab), ``%cocalc_embed`` included.
- CoCalcFrame's commands answer as in Lab (tests/browser/test_frame_lab.py): open_file, status,
  closeall, an error reply, a burst, the traits, ``frame.mode == "bridge"`` and a second view.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _jupyterlab import JupyterLab, LabNotebook, start_notebook7, write_notebook

from cocalc_widgets.emulator import Emulator

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "embedding.ipynb"
FRAME = "iframe.cocalc-frame-iframe"
ERROR_MIME = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, JupyterLab]]:
    """The seeded emulator and a Notebook 7 server whose kernels are signed in to it."""
    base = tmp_path_factory.mktemp("notebook7")
    emu = Emulator(data_dir=base / "projects", require_sign_in=True).start()
    server = None
    try:
        emu.seed_demo()
        env = {
            "COCALC_HOST": emu.url,
            "COCALC_API_KEY": emu.api_key,
            "COCALC_ACCOUNT_ID": emu.account_id,
        }
        server = start_notebook7(base / "server", env=env)
        emu.state.dev_http_origins.append(server.origin)  # the kiosk page reads it per request
        yield emu, server
    finally:
        if server is not None:
            server.stop()
        emu.stop()


@pytest.fixture
def console(page: Any) -> list[str]:
    """The page's uncaught errors and console errors (reported when a test fails)."""
    seen: list[str] = []
    page.on("pageerror", lambda err: seen.append(f"pageerror: {err}"))
    page.on(
        "console", lambda m: seen.append(f"console.error: {m.text}") if m.type == "error" else None
    )
    return seen


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def _no_error(nb: LabNotebook, i: int, out: str) -> None:
    cell = nb.cells().nth(i)
    assert cell.locator(ERROR_MIME).count() == 0, f"cell {i} wrote to stderr: {out}"
    assert "Traceback" not in out and "Error" not in out, f"cell {i}: {out}"


#: Notebook 7.6.5 throws this itself on every notebook page, with no widget and no user settings
#: (its keyboard-shortcuts settings plugin, in notebook_core.js; JupyterLab 4.6.6 does not).
NOTEBOOK7_OWN_ERRORS = ("pageerror: Cannot read properties of undefined (reading 'schema')",)


def _unexpected(console: list[str]) -> list[str]:
    """The page's errors other than Notebook 7's own."""
    return [line for line in console if line not in NOTEBOOK7_OWN_ERRORS]


def test_embedding_notebook_runs_in_notebook7(
    notebook7: Any, page: Any, console: list[str], screenshot: Any
) -> None:
    emu, server = notebook7
    shutil.copy(NOTEBOOK, server.root_dir / "embedding.ipynb")
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    sources = ["".join(cells[i]["source"]) for i in code]
    assert len(code) == 8, "the notebook's code cells changed: update this test"
    assert "%cocalc_embed" in sources[5] and "create_token" in sources[6]
    assert "frame.mode" in sources[7]
    nb = LabNotebook(page, server, "embedding.ipynb").open()
    assert nb.cells().count() == len(cells), "every cell is in the DOM (windowingMode none)"
    frames = page.frame_locator(FRAME)
    status = page.locator(".cocalc-frame-status")
    outputs = {}
    for k, i in enumerate(code):
        outputs[i] = out = nb.run_cell(i, timeout=60)
        _no_error(nb, i, out)
        if k == 0:  # the frame, signed in through /auth/impersonate
            frames.first.locator("#file-text").wait_for(timeout=20000)
            assert "Homework 1" in frames.first.locator("#file-text").inner_text()
        elif k == 1:  # open_file("handout/data.csv")
            assert "'done'" in out and "handout/data.csv" in out, out
            assert "x,y" in frames.first.locator("#file-text").inner_text()
        elif k == 2:  # status; frame.open_files
            assert "handout/README.md" in out and "handout/data.csv" in out, out
        elif k == 3:  # the project log after opening the homework notebook
            assert "handout/homework1.ipynb" in out, out
            frames.first.locator(".notebook").wait_for(timeout=10000)
            assert frames.first.locator("#kiosk-title").inner_text() == "handout/homework1.ipynb"
            page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)  # let the IFrame paint
            screenshot(page, "notebook-embedding-notebook7")
        elif k == 4:  # closeall
            assert "all files are closed" in out, out
            frames.first.locator("#kiosk-banner").wait_for(timeout=10000)
        elif k == 5:  # %cocalc_embed: a second frame showing the README
            small = frames.nth(1)
            small.locator("#file-text").wait_for(timeout=20000)
            assert "Homework 1" in small.locator("#file-text").inner_text()
        elif k == 6:  # create_token's sign-in URL (the demo account administers the students)
            student = frames.nth(2)
            student.locator("#file-text").wait_for(timeout=20000)
            assert "Welcome, student 1" in student.locator("#file-text").inner_text()
            # the next cell reads student.mode: wait until the bridge has answered
            page.wait_for_function(
                "() => (document.querySelectorAll('.cocalc-frame-status')[2]?.textContent ?? '')"
                ".startsWith('CoCalc · ready')",
                timeout=20000,
            )
        elif k == 7:  # frame.mode, student.mode
            assert ast.literal_eval(out.strip()) == ("bridge", "bridge"), out
    assert status.count() == 3
    for n in range(3):
        assert status.nth(n).inner_text().startswith("CoCalc · ready"), status.nth(n).inner_text()
    assert emu.api_key not in "\n".join(outputs.values())
    assert not _unexpected(console), console
    page.locator(".cocalc-frame").nth(1).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "notebook-embedding-notebook7-end")


def test_frame_commands_in_notebook7(
    notebook7: Any, page: Any, console: list[str], screenshot: Any
) -> None:
    emu, server = notebook7
    pid = emu.create_project(title="notebook 7 frame test")
    root = emu.project_path(pid)
    for rel, text in {"hello.txt": "hello from Notebook 7\n", "notes/a.txt": "note A\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    cells = [
        # 0: the frame, signed in with a fresh token from the client (impersonate flow)
        "from cocalc_widgets.client import CoCalcClient\n"
        "from cocalc_widgets.frame import CoCalcFrame\n"
        f"client = CoCalcClient({emu.api_key!r}, host={emu.url!r}, api='v1')\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', client=client,\n"
        f"                    account_id={emu.account_id!r}, password={emu.password!r},\n"
        "                    height=360, timeout=20)\n"
        "frame",
        # 1: open a file
        "h = frame.open_file('notes/a.txt')\n"
        "r = await h\n"
        "print('OPEN', r['status'], r['path'], h.ack['status'], h.state)\n"
        "print('READY', frame.ready)\n"
        "print('MODE', frame.mode)",
        # 2: status, and the traits it updates
        "s = await frame.status()\n"
        "print('STATUS', s['status'], s['connection']['quality'])\n"
        f"print('FILES', sorted(s['open_files'][{pid!r}]))\n"
        "print('TRAIT', frame.connection == s['connection'], frame.open_files == s['open_files'])\n"
        "print('LOG', [e['event']['filename'] for e in frame.project_log])\n"
        "print('PAGE_ORIGIN', frame.page_origin)",
        # 3: closeall, status again, an error reply, a burst
        "c = await frame.closeall()\n"
        "print('CLOSEALL', c['mesg'])\n"
        "print('AFTER', (await frame.status())['open_files'], frame.open_files)\n"
        "from cocalc_widgets.errors import CommandError\n"
        "try:\n"
        "    await frame.command('frobnicate')\n"
        "except CommandError as e:\n"
        "    print('ERROR', e.mesg)\n"
        "import asyncio, time\n"
        "t0 = time.monotonic()\n"
        "burst = [frame.status() for _ in range(20)]\n"
        "await asyncio.gather(*burst)\n"
        "print('BURST', len(burst), all(b.state == 'done' for b in burst),\n"
        "      round((time.monotonic() - t0) / len(burst) * 1000, 1), 'ms/command')\n"
        "print('REPR', repr(frame))",
        # 4: a second view of the same frame (it becomes the relay)
        "display(frame)",
        # 5: commands still resolve exactly once through the new view
        "r = await frame.open_file('hello.txt', timeout=10)\n"
        "print('REOPEN', r['status'], r['path'])\n"
        "print('VIEWS', frame.views, frame.ready, len(frame.pending), frame.mode)",
    ]
    write_notebook(server.root_dir / "frame_commands.ipynb", cells)
    nb = LabNotebook(page, server, "frame_commands.ipynb").open()
    out = nb.run_cell(0)
    _no_error(nb, 0, out)
    frame = page.frame_locator(FRAME)
    frame.first.locator("#file-text").wait_for(timeout=20000)
    assert "hello from Notebook 7" in frame.first.locator("#file-text").inner_text()

    out = nb.run_cell(1, timeout=40)
    _no_error(nb, 1, out)
    assert _lines(out, "OPEN") == ["done notes/a.txt ack done"], out
    assert _lines(out, "READY") == ["True"], out
    assert _lines(out, "MODE") == ["bridge"], out
    assert "note A" in frame.first.locator("#file-text").inner_text()
    assert frame.first.locator("#kiosk-title").inner_text() == "notes/a.txt"

    out = nb.run_cell(2, timeout=40)
    _no_error(nb, 2, out)
    assert _lines(out, "STATUS") == ["done good"], out
    assert _lines(out, "FILES") == [str(["hello.txt", "notes/a.txt"])], out
    assert _lines(out, "TRAIT") == ["True True"], out
    assert "notes/a.txt" in _lines(out, "LOG")[0], out
    assert _lines(out, "PAGE_ORIGIN") == [server.origin], out
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # let the IFrame paint
    screenshot(page, "frame-commands-notebook7")

    out = nb.run_cell(3, timeout=60)
    _no_error(nb, 3, out)
    assert _lines(out, "CLOSEALL") == ["all files are closed"], out
    assert _lines(out, "AFTER") == ["{} {}"], out
    assert _lines(out, "ERROR") == ["Unknown action 'frobnicate'"], out
    burst = _lines(out, "BURST")
    assert burst[0].startswith("20 True"), out
    assert "ready" in _lines(out, "REPR")[0], out
    frame.first.locator("#kiosk-banner").wait_for(timeout=5000)
    assert page.locator(".cocalc-frame-status").first.inner_text().startswith("CoCalc · ready")

    nb.run_cell(4)
    frame.nth(1).locator("#file-text").wait_for(timeout=20000)
    out = nb.run_cell(5, timeout=40)
    _no_error(nb, 5, out)
    assert _lines(out, "REOPEN") == ["done hello.txt"], out
    assert _lines(out, "VIEWS") == ["2 True 0 bridge"], out
    status = page.locator(".cocalc-frame-status")
    assert status.nth(1).inner_text().startswith("CoCalc · ready")
    assert "another view" in status.first.inner_text()
    assert "hello from Notebook 7" in frame.nth(1).locator("#file-text").inner_text()
    assert not _unexpected(console), console
    print("burst in Notebook 7:", burst)
