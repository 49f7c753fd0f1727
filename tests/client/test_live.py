"""Opt-in tests against a real CoCalc server.

They run only when ``COCALC_API_KEY`` and ``COCALC_HOST`` are set (and are skipped otherwise).
``COCALC_TEST_SRC`` / ``COCALC_TEST_TARGET`` name two projects the key may write to; the copy
test writes ``cocalc-widgets-live-test.txt`` into the source and copies it to the target.
"""

from __future__ import annotations

import os
import uuid

import pytest

from cocalc_widgets import CoCalcClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.environ.get("COCALC_API_KEY") and os.environ.get("COCALC_HOST")),
        reason="live CoCalc tests need COCALC_API_KEY and COCALC_HOST",
    ),
]


@pytest.fixture(scope="module")
def live():
    with CoCalcClient() as client:
        yield client


def test_live_detects_the_api(live):
    assert live.detect_api() in ("v1", "v2", "conat")
    assert set(live.api_versions) <= {"v1", "v2", "conat"} and live.api_versions


def test_live_ping_and_listing(live):
    assert live.ping().now is not None
    src = os.environ.get("COCALC_TEST_SRC")
    if src and "conat" in live.api_versions:
        assert all(entry.name for entry in live.list_files(src))


def test_live_copy_and_wait(live):
    src = os.environ.get("COCALC_TEST_SRC")
    target = os.environ.get("COCALC_TEST_TARGET")
    if not (src and target):
        pytest.skip("set COCALC_TEST_SRC and COCALC_TEST_TARGET to two project ids")
    name = "cocalc-widgets-live-test.txt"
    marker = str(uuid.uuid4())
    live.write_text_file_to_project(src, name, marker)
    status = live.copy_path_between_projects(src, name, target).wait(timeout=300)
    assert status.ok
    assert live.read_text_file_from_project(target, name) == marker  # v1 or conat
