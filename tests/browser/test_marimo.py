"""CoCalcFrame in marimo, headless: ``marimo run notebooks/embedding_marimo.py`` in Debian's
Chromium against the emulator. The frame shows the file, clicking the notebook's buttons opens
another one and asks for the status, and the state line (a ``frame_state`` marimo state)
re-renders; a cell that awaits a command fails at once with marimo's limit and the callback form.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _jupyterlab import free_port

from cocalc_widgets.emulator import Emulator

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "embedding_marimo.py"
FRAME = "iframe.cocalc-frame-iframe"

AWAIT_APP = '''import marimo

app = marimo.App()


@app.cell
def _():
    import os
    import time

    import marimo as mo

    from cocalc_widgets import CoCalcClient, CoCalcFrame

    client = CoCalcClient()
    pid = client.projects()[0]["project_id"]
    frame = CoCalcFrame(pid, client=client, account_id=os.environ["COCALC_ACCOUNT_ID"], height=120)
    frame
    return frame, mo, time


@app.cell
async def _(frame, mo, time):
    t0 = time.monotonic()
    try:
        await frame.status(timeout=30)
        said = "no error"
    except RuntimeError as err:
        said = str(err)
    mo.md(f"AWAITED in {time.monotonic() - t0:.2f} s: {said}")
    return


if __name__ == "__main__":
    app.run()
'''


class Marimo:
    """``marimo run`` of one notebook on 127.0.0.1, against a seeded emulator."""

    def __init__(self, notebook: Path, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.emu = Emulator(data_dir=tmp / "projects", dev_http_origins=[self.url]).start()
        self.projects = self.emu.seed_demo()
        config = tmp / "config"
        config.mkdir()
        env = dict(
            os.environ,
            COCALC_HOST=self.emu.url,
            COCALC_API_KEY=self.emu.api_key,
            COCALC_ACCOUNT_ID=self.emu.account_id,
            XDG_CONFIG_HOME=str(config),  # no user marimo config leaks in
            XDG_STATE_HOME=str(tmp / "state"),
            XDG_CACHE_HOME=str(tmp / "cache"),
        )
        self.log = (tmp / "marimo.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "marimo", "run", str(notebook), "--host", "127.0.0.1",
             "--port", str(self.port), "--headless", "--no-token"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"marimo exited: {(tmp / 'marimo.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("marimo did not answer in 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        self.emu.stop()


@pytest.fixture
def marimo_app(tmp_path: Path) -> Iterator[Any]:
    apps: list[Marimo] = []

    def start(notebook: Path) -> Marimo:
        apps.append(Marimo(notebook, tmp_path / f"app{len(apps)}"))
        return apps[-1]

    yield start
    for app in apps:
        app.stop()


def _frame_text(page: Any, want: str, timeout: float = 30.0) -> str:
    frame = page.frame_locator(FRAME).first
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = frame.locator("body").inner_text(timeout=1000)
            if want in text:
                return text
        except Exception:  # between pages
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"the frame never showed {want!r}: {text[:300]!r}")


def _state_line(page: Any, want: str, timeout: float = 30.0) -> str:
    line = page.get_by_text("last reply").first
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = " ".join(line.locator("xpath=..").inner_text(timeout=1000).split())
            if want in text:
                return text
        except Exception:  # re-rendering
            pass
        page.wait_for_timeout(100)
    raise AssertionError(f"the state line never said {want!r}: {text!r}")


def test_the_marimo_notebook_drives_the_frame_with_buttons(marimo_app: Any, page: Any, screenshot: Any) -> None:
    app = marimo_app(NOTEBOOK)
    page.goto(app.url)
    assert "Homework 1" in _frame_text(page, "Homework 1")
    assert "mode bridge" in _state_line(page, "bridge ready True")
    page.get_by_role("button", name="open").click()  # the picker's default: handout/data.csv
    assert "x,y" in _frame_text(page, "x,y")
    assert "last reply handout/data.csv" in _state_line(page, "last reply handout/data.csv")
    page.get_by_role("combobox").select_option("handout/homework1.ipynb")
    page.get_by_role("button", name="open").click()
    _frame_text(page, "Fit a line")
    _state_line(page, "last reply handout/homework1.ipynb")
    page.get_by_role("button", name="status").click()
    line = _state_line(page, "last reply done")
    assert "open files 3" in line, line  # CoCalc's status reply: the three files opened
    page.get_by_role("button", name="close all").click()
    _state_line(page, "last reply all files are closed")
    page.wait_for_timeout(300)
    screenshot(page, "marimo-embedding")
    assert app.emu.api_key not in page.content()


def test_a_cell_that_awaits_a_command_fails_at_once_naming_marimos_limit(
    marimo_app: Any, page: Any, tmp_path: Path
) -> None:
    notebook = tmp_path / "await_app.py"
    notebook.write_text(AWAIT_APP)
    app = marimo_app(notebook)
    page.goto(app.url)
    said = page.get_by_text("AWAITED in").first
    said.wait_for(timeout=30000)
    text = said.inner_text()
    seconds = float(text.split("AWAITED in ")[1].split(" s")[0])
    # At once (milliseconds on an idle machine), not after the command's 30 s timeout: a third
    # of it is room enough for a loaded machine and still tells the two apart.
    assert seconds < 30 / 3, text
    assert "between cell runs" in text and "add_done_callback" in text, text
