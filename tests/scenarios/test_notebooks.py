"""The demo notebooks run end to end against the emulator (nbclient, a real kernel).

``embedding.ipynb`` needs a browser to render the frame, so it runs in the real-browser suite
(tests/browser); here it is only checked to be clean. ``dashboard.ipynb`` runs here top to bottom
(its frame is never shown, so nothing may wait for it), then its copy panel is driven from extra
cells as its button would be; tests/browser/test_dashboard_voila.py clicks it in Voila.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cocalc_widgets.emulator import Emulator

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    emu = Emulator(data_dir=tmp_path / "projects", copy_delay=0.05)
    projects = emu.seed_demo()
    emu.start()
    monkeypatch.setenv("COCALC_HOST", emu.url)
    monkeypatch.setenv("COCALC_API_KEY", emu.api_key)
    monkeypatch.setenv("COCALC_ACCOUNT_ID", emu.account_id)
    try:
        yield emu, projects
    finally:
        emu.stop()


@pytest.mark.parametrize("name", ["api-demo.ipynb", "classroom.ipynb"])
def test_notebook_runs_end_to_end(name, demo_env, tmp_path):
    emu, projects = demo_env
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(NOTEBOOKS / name, work / name)
    nb = nbformat.read(work / name, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    text = json.dumps(nb)
    assert emu.api_key not in text  # the key never reaches an output
    assert "Traceback" not in text
    if name == "classroom.ipynb":
        for i in range(1, 6):
            assert (emu.project_path(projects[f"Student {i}"]) / "handout" / "README.md").exists()
            collected = emu.project_path(projects["Instructor"]) / "collected" / f"Student {i}" / "homework1.ipynb"
            assert collected.exists()
    else:
        assert (emu.project_path(projects["Student 1"]) / "from-instructor" / "README.md").exists()
        assert (emu.project_path(projects["Student 2"]) / "homework" / "README.md").exists()


DRIVE_DASHBOARD = """\
picker.value = "handout/README.md"
targets.value = tuple(pid for title, pid in others if title in ("Student 1", "Student 2"))
copy_button.click()
copy_threads[-1].join(60)
print(progress.value, progress.max, progress.bar_style, copy_button.disabled)
print(table.value)
"""


def test_dashboard_runs_top_to_bottom_and_copies(demo_env, tmp_path):
    emu, projects = demo_env
    work = tmp_path / "nb"
    work.mkdir()
    nb = nbformat.read(NOTEBOOKS / "dashboard.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DRIVE_DASHBOARD))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    text = json.dumps(nb)
    assert emu.api_key not in text and "Traceback" not in text
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert out.startswith("2 2 success False\n"), out
    assert "Copies</b>: 2 done" in out and "Student 1" in out and "Student 2" in out
    for student in ("Student 1", "Student 2"):
        assert (emu.project_path(projects[student]) / "handout" / "README.md").exists()
    assert not (emu.project_path(projects["Student 3"]) / "handout").exists()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_saved_notebooks_hold_no_outputs_keys_or_tokens(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in nb.metadata  # no saved widget state
    text = path.read_text()
    for needle in ("sk-", "sk_", "auth_token=", "remember_me"):
        assert needle not in text
