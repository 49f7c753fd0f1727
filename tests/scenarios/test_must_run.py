"""The ``must_run(env)`` marker (tests/conftest.py): where ``env`` is set, as ``.ci/run`` sets
``COCALC_REQUIRE_HTTPS_TEST``, a skip of the test is a failure; elsewhere it stays a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()
TESTS = """
import pytest

@pytest.fixture
def needs_port():
    pytest.skip("port 443 on 127.0.0.1 is taken by another server")

@pytest.mark.must_run("MUST_RUN_PROBE")
def test_in_fixture(needs_port):
    pass

@pytest.mark.must_run("MUST_RUN_PROBE")
def test_in_body():
    pytest.skip("no Chromium")

@pytest.mark.must_run("MUST_RUN_PROBE")
@pytest.mark.skip(reason="marked skip")
def test_marked():
    pass

@pytest.mark.must_run("MUST_RUN_PROBE")
@pytest.mark.xfail(reason="known")
def test_xfail_stays():
    assert False

def test_unmarked_may_skip():
    pytest.skip("fine")
"""


@pytest.fixture
def probe(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_probe=TESTS)
    return pytester


def test_skips_stay_skips_without_the_variable(probe, monkeypatch):
    monkeypatch.delenv("MUST_RUN_PROBE", raising=False)
    result = probe.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=4, xfailed=1)


@pytest.mark.parametrize("value", ["", "0"])
def test_empty_or_zero_is_off(probe, monkeypatch, value):
    monkeypatch.setenv("MUST_RUN_PROBE", value)
    probe.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=4, xfailed=1)


def test_skips_fail_where_the_variable_is_set(probe, monkeypatch):
    monkeypatch.setenv("MUST_RUN_PROBE", "1")
    result = probe.runpytest("-p", "no:cacheprovider", "-rfE")
    result.assert_outcomes(failed=1, errors=2, skipped=1, xfailed=1)
    out = result.stdout.str()
    assert "must run here (MUST_RUN_PROBE=1), but it skipped" in out
    for reason in ("port 443 on 127.0.0.1 is taken", "no Chromium", "marked skip"):
        assert reason in out
    assert result.ret != 0
