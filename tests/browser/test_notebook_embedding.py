"""``notebooks/embedding.ipynb`` end to end in JupyterLab, in Debian's Chromium, against the emulator.

The Lab server's kernel gets the demo's environment (COCALC_HOST, COCALC_API_KEY,
COCALC_ACCOUNT_ID); the emulator is seeded with the demo projects and allows the Lab origin. Both
servers are on 127.0.0.1, so the kiosk page's sign-in cookie is same-site. Every code cell runs
through Lab's UI; none may error, and the IFrame must show the files the cells open.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _jupyterlab import JupyterLab, LabNotebook, start_jupyterlab

from cocalc_widgets.emulator import Emulator

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "embedding.ipynb"
FRAME = "iframe.cocalc-frame-iframe"
ERROR_MIME = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Emulator, JupyterLab]]:
    emu = Emulator(data_dir=tmp_path / "projects", require_sign_in=True).start()
    lab = None
    try:
        emu.seed_demo()
        env = {
            "COCALC_HOST": emu.url,
            "COCALC_API_KEY": emu.api_key,
            "COCALC_ACCOUNT_ID": emu.account_id,
        }
        lab = start_jupyterlab(tmp_path / "lab", env=env)
        emu.state.dev_http_origins.append(lab.origin)  # the kiosk page reads it per request
        yield emu, lab
    finally:
        if lab is not None:
            lab.stop()
        emu.stop()


def test_embedding_notebook_runs_in_jupyterlab(demo: Any, page: Any, screenshot: Any) -> None:
    emu, lab = demo
    shutil.copy(NOTEBOOK, lab.root_dir / "embedding.ipynb")
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert len(code) >= 6, "the notebook's code cells changed: update this test"
    nb = LabNotebook(page, lab, "embedding.ipynb").open()
    frame = page.frame_locator(FRAME)
    outputs = {}
    for i in code:
        outputs[i] = nb.run_cell(i, timeout=60)
        errors = nb.cells().nth(i).locator(ERROR_MIME)
        assert errors.count() == 0, f"cell {i} wrote to stderr: {outputs[i]}"
        assert "Traceback" not in outputs[i] and "Error" not in outputs[i], outputs[i]
        if i == code[0]:  # the frame, signed in through /auth/impersonate
            frame.first.locator("#file-text").wait_for(timeout=20000)
            assert "Homework 1" in frame.first.locator("#file-text").inner_text()
        elif i == code[1]:  # open_file("handout/data.csv")
            assert "'done'" in outputs[i] and "handout/data.csv" in outputs[i], outputs[i]
            assert "x,y" in frame.first.locator("#file-text").inner_text()
        elif i == code[2]:  # status; frame.open_files
            assert "handout/README.md" in outputs[i] and "handout/data.csv" in outputs[i]
        elif i == code[3]:  # the project log after opening the homework notebook
            assert "handout/homework1.ipynb" in outputs[i], outputs[i]
            frame.first.locator(".notebook").wait_for(timeout=10000)
            assert frame.first.locator("#kiosk-title").inner_text() == "handout/homework1.ipynb"
            page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
            page.wait_for_timeout(300)  # let the IFrame paint
            screenshot(page, "notebook-embedding-jupyterlab")
        elif i == code[4]:  # closeall
            assert "all files are closed" in outputs[i], outputs[i]
            frame.first.locator("#kiosk-banner").wait_for(timeout=10000)
    # %cocalc_embed: a second frame showing the README
    small = page.frame_locator(FRAME).nth(1)
    small.locator("#file-text").wait_for(timeout=20000)
    assert "Homework 1" in small.locator("#file-text").inner_text()
    # create_token's sign-in URL (the demo account administers the students' organization)
    student = page.frame_locator(FRAME).nth(2)
    student.locator("#file-text").wait_for(timeout=20000)
    assert "Welcome, student 1" in student.locator("#file-text").inner_text()
    status = page.locator(".cocalc-frame-status")
    assert status.count() == 3
    assert status.first.inner_text().startswith("CoCalc · ready")
    text = "\n".join(outputs.values())
    assert emu.api_key not in text
    page.locator(".cocalc-frame").nth(1).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "notebook-embedding-jupyterlab-end")
