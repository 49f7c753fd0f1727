"""Runs the front end's JavaScript unit tests (``node --test js/``) so CI runs them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_unit_tests() -> None:
    proc = subprocess.run(
        ["node", "--test", str(JS)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
