"""``tools/real-cocalc`` without a CoCalc: what it says when something is missing (runs in CI;
the tests against the real server are in tests/real and skip there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "real-cocalc"


def run(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COCALC_REAL_CACHE": str(cache), **env},
    )


def test_help_names_the_commands(tmp_path):
    out = run("--help", cache=tmp_path)
    assert out.returncode == 0
    for word in ("build", "start", "stop", "status", "MS-RSL"):
        assert word in out.stdout


def test_build_without_a_source_says_so(tmp_path):
    out = run("build", "--source", str(tmp_path / "nowhere"), cache=tmp_path)
    assert out.returncode == 2 and "no CoCalc source at" in out.stderr
    out = run("build", "--source", str(tmp_path), cache=tmp_path)
    assert out.returncode == 2 and "neither a CoCalc git work tree nor a bare git" in out.stderr


def test_start_names_what_is_missing(tmp_path):
    out = run("start", cache=tmp_path, COCALC_REAL_PG_BIN=str(tmp_path / "no-pg"))
    if "Node.js 20" in out.stderr:
        pytest.skip("no Node 20 here: start stops at that first (checked by the next assertion)")
    assert out.returncode == 2 and "PostgreSQL 15 is missing" in out.stderr
    out = run("start", cache=tmp_path)
    assert out.returncode == 2
    assert "no built CoCalc" in out.stderr or "PostgreSQL 15 is missing" in out.stderr


def test_start_without_node(tmp_path):
    out = run("start", cache=tmp_path, PATH=str(tmp_path))
    assert out.returncode == 2 and "Node.js 20 is missing" in out.stderr


def test_stop_and_status_with_nothing_running(tmp_path):
    out = run("stop", cache=tmp_path)
    assert out.returncode == 0 and "nothing to stop" in out.stdout
    out = run("status", cache=tmp_path)
    assert out.returncode == 1 and "not running" in out.stdout


def test_the_real_tests_say_which_command_to_run(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "real"))
    try:
        import _real_server
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(_real_server, "ENV_FILE", tmp_path / "env")
    _real_server.server.cache_clear()
    env, why = _real_server.server()
    assert env is None and "tools/real-cocalc start" in why and "is absent" in why
    (tmp_path / "env").write_text("COCALC_HOST=http://127.0.0.1:9\n")
    _real_server.server.cache_clear()
    env, why = _real_server.server()
    assert env is None and "lacks COCALC_API_KEY" in why
    (tmp_path / "env").write_text(
        "COCALC_HOST=http://127.0.0.1:9\nCOCALC_API_KEY=sk-x\nCOCALC_ACCOUNT_ID=a\nCOCALC_COMMIT=c\n"
    )
    _real_server.server.cache_clear()
    env, why = _real_server.server()
    assert env is None and "does not answer its /healthcheck" in why
    _real_server.server.cache_clear()
