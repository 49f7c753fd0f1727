"""The front-end module is found from a checkout and shipped inside the wheel (with the
``py.typed`` marker and every API generation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cocalc_widgets.frame import CoCalcFrame, _esm_path

ROOT = Path(__file__).resolve().parents[2]


def test_esm_is_js_frame_js_in_a_checkout() -> None:
    source = (ROOT / "js" / "frame.js").read_text()
    assert _esm_path().read_text() == source
    assert str(CoCalcFrame._esm) == source
    frame = CoCalcFrame()
    assert frame.get_state()["_esm"] == source
    frame.close()


@pytest.mark.must_run("COCALC_REQUIRE_WHEEL_TEST")
def test_wheel_contains_the_module(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")  # in the test extra; .ci/run makes a skip here a failure
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(".git", "test-artifacts", "*.egg-info", "__pycache__"),
    )
    if not (src / "README.md").exists():  # the project metadata needs one
        (src / "README.md").write_text("cocalc-widgets\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = zf.read("cocalc_widgets/static/frame.js").decode()
        names = zf.namelist()
    assert shipped == (ROOT / "js" / "frame.js").read_text()
    assert "cocalc_widgets/frame.py" in names
    assert "cocalc_widgets/py.typed" in names  # type checkers read the package's hints
    assert "cocalc_widgets/_api/conat.py" in names
    assert not any(n.startswith("js/") for n in names)
