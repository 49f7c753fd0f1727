"""The client against the emulator over real HTTP on loopback: copies with v1 and v2, auto
detection, real timeouts, Retry-After, dropped connections and the copy ledger."""

from __future__ import annotations

import time

import pytest

from cocalc_widgets import (
    BadInput,
    CoCalcClient,
    CoCalcTimeout,
    CopyFailed,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
)
from cocalc_widgets.emulator import Emulator


def make_client(emu: Emulator, api: str = "auto", **kw) -> CoCalcClient:
    return CoCalcClient(api_key=emu.api_key, host=emu.url, api=api, **kw)


@pytest.mark.parametrize("api", ["v1", "v2", "auto"])
def test_copy_a_file_between_two_project_folders(emulator, api):
    (emulator.project_path(emulator.pa) / "notes").mkdir()
    (emulator.project_path(emulator.pa) / "notes" / "a.txt").write_text("hello")
    with make_client(emulator, api) as client:
        job = client.copy_path_between_projects(emulator.pa, "notes/a.txt", emulator.pb, "in/b.txt")
        status = job.wait(timeout=10)
        assert status.ok and status.started and status.finished
    assert (emulator.project_path(emulator.pb) / "in" / "b.txt").read_text() == "hello"
    assert len(emulator.ledger) == 1


def test_auto_picks_v2_on_a_current_server_and_v1_on_an_old_one(tmp_path):
    for versions, expected in ((("v2",), "v2"), (("v1",), "v1"), (("v1", "v2"), "v2")):
        with Emulator(data_dir=tmp_path / expected / str(len(versions)), api_versions=versions) as emu:
            a, b = emu.create_project("A"), emu.create_project("B")
            (emu.project_path(a) / "f").write_text("x")
            with make_client(emu) as client:
                assert client.copy_path_between_projects(a, "f", b).wait(timeout=10).ok
                assert client.api == expected


def test_v1_only_features_on_v1(emulator):
    with make_client(emulator, "v1") as client:
        assert client.ping().latency < 5
        client.write_text_file_to_project(emulator.pa, "d/x.txt", "content")
        assert client.read_text_file_from_project(emulator.pa, "d/x.txt") == "content"
        titles = {p["title"] for p in client.projects()}
        assert {"Project A", "Project B"} <= titles
        new = client.create_project(title="Fresh")
        assert emulator.project_path(new).is_dir()
        token = client.user_auth(emulator.account_id, "")
        assert len(token) == 24 and "***" in repr(token)


def test_failed_copy_raises_with_the_server_text(emulator):
    with make_client(emulator, "v1") as client:
        job = client.copy_path_between_projects(emulator.pa, "missing.txt", emulator.pb)
        with pytest.raises(CopyFailed) as info:
            job.wait(timeout=10)
        assert info.value.server_message and info.value.server_message in str(info.value)
        assert not job.ok and job.error


def test_unknown_target_project_is_permission_denied(emulator):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    with make_client(emulator, "v1") as client, pytest.raises(PermissionDenied, match="ACCESS BLOCKED"):
        client.copy_path_between_projects(emulator.pa, "f", "00000000-0000-4000-8000-000000000000")


def test_scheduled_copy_is_pending_then_deleted(emulator):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    with make_client(emulator, "v1") as client:
        job = client.copy_path_between_projects(emulator.pa, "f", emulator.pb, scheduled="2099-01-01T00:00:00Z")
        pending = client.copy_path_status(src_project_id=emulator.pa, pending=True)
        assert [s.copy_path_id for s in pending] == [job.copy_path_id]
        assert "deleted" in client.copy_path_delete(job.copy_path_id)
        with pytest.raises(NotFound):
            client.copy_path_delete(job.copy_path_id)
    assert emulator.ledger == []


def test_v2_refuses_scheduled_before_sending(emulator):
    with make_client(emulator, "v2") as client:
        before = client.requests_sent
        with pytest.raises(BadInput, match="scheduled"):
            client.copy_path_between_projects(emulator.pa, "f", emulator.pb, scheduled="2099-01-01")
        assert client.requests_sent == before


def test_real_read_timeout_on_a_read_is_retried_then_times_out(emulator):
    emulator.faults.latency = 0.6
    with make_client(emulator, "v1", timeout=(2, 0.2), retries=1) as client:
        start = time.monotonic()
        with pytest.raises(CoCalcTimeout):
            client.copy_path_status("65cd2079-098d-4147-bb54-12d44cebb8cb")
        assert time.monotonic() - start < 3


def test_real_read_timeout_on_a_copy_is_never_resent(emulator):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    with make_client(emulator, "v1", timeout=(2, 0.3)) as client:
        client.detect_api()
        emulator.faults.latency = 1.0
        try:
            job = client.copy_path_between_projects(emulator.pa, "f", emulator.pb)
        except OutcomeUnknown:
            job = None
        emulator.faults.latency = 0
        time.sleep(1.2)  # the server finishes what it was asked
        if job is not None:  # found through copy_path_status
            assert job.wait(timeout=10).ok
    assert len(emulator.ledger) <= 1  # never twice


def test_retry_after_is_honoured_over_real_http(emulator):
    from cocalc_widgets import RateLimited

    emulator.faults.rate_limit_rate = 1.0
    emulator.faults.retry_after = 0.4
    with make_client(emulator, "v1", retries=2) as client:
        client.detect_api()
        sent, start = client.requests_sent, time.monotonic()
        with pytest.raises(RateLimited) as info:
            client.ping()
        assert client.requests_sent - sent == 3  # the first try and two retries
        assert time.monotonic() - start >= 0.8  # waited Retry-After each time
        assert info.value.status == 429
        emulator.faults.retry_after = 3600  # beyond the cap: give up at once
        sent = client.requests_sent
        with pytest.raises(RateLimited):
            client.ping()
        assert client.requests_sent - sent == 1


def test_dropped_connections_on_status_are_retried(emulator):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    with make_client(emulator, "v1") as client:
        job = client.copy_path_between_projects(emulator.pa, "f", emulator.pb)
        emulator.faults.seed = 7
        emulator.faults.drop_rate = 0.5
        try:
            assert job.wait(timeout=20).ok
        finally:
            emulator.faults.drop_rate = 0.0
    assert len(emulator.ledger) == 1


def test_auto_uses_v1_for_v1_only_calls_when_the_server_serves_both(emulator):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    with make_client(emulator) as client:
        job = client.copy_path_between_projects(emulator.pa, "f", emulator.pb, exclude=["*.tmp"])
        assert client.api == "v2" and job.wait(timeout=10).ok
        assert [s.copy_path_id for s in client.copy_path_status(src_project_id=emulator.pa, pending=False)] == [job.copy_path_id]
        assert len(client.user_auth(emulator.account_id)) == 24
        assert emulator.request_count(api="v1", endpoint="ping") == 1  # asked once


def test_v1_only_calls_on_a_v2_only_server_say_why(tmp_path):
    with Emulator(data_dir=tmp_path / "d", api_versions=("v2",)) as emu:
        a, b = emu.create_project("A"), emu.create_project("B")
        with make_client(emu) as client:
            with pytest.raises(BadInput, match=r"needs CoCalc's API v1 or conat, which this server does not speak \(it speaks v2\)") as info:
                client.user_auth(emu.account_id)
            assert info.value.endpoint == "user_auth"
            with pytest.raises(BadInput, match="needs CoCalc's API v1, which"):
                client.copy_path_status(src_project_id=a)
            with pytest.raises(BadInput, match="exclude= is not supported by CoCalc's API v2"):
                client.copy_path_between_projects(a, "f", b, exclude="x")
            assert emu.request_count(endpoint="projects/copy-path") == 0


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_copy_looked_up_by_its_id_alone(emulator, api):
    (emulator.project_path(emulator.pa) / "f").write_text("x")
    emulator.copy_delay = 0.3
    with make_client(emulator, api) as client:
        job = client.copy_path_between_projects(emulator.pa, "f", emulator.pb)
        assert job.copy_path_id
        status = client.copy_path_status(job.copy_path_id)  # a fresh look-up: no request known
        assert status.copy_path_id == job.copy_path_id and status.state in ("pending", "running", "done")
        assert job.wait(timeout=10).ok and client.copy_path_status(job.copy_path_id).ok
