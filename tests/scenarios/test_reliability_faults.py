"""Reliability under faults: many copies through the emulator while it answers 5xx, drops
connections, rate-limits (429 + Retry-After) and loses replies (drops and 504 gateway pages
after the copy ran). Every copy must end either done exactly once (the emulator's ledger shows
no duplicate) or reported as failed / outcome unknown with a reason, and nothing but the
library's own errors may escape. Seeded, so a failure replays.

CI size: 200 copies per run (100 for v2's lost replies). ``--run-slow`` (or COCALC_RUN_SLOW=1)
adds the other API/status combinations and 1000-copy runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter

import pytest

from cocalc_widgets import (
    CoCalcClient,
    CoCalcError,
    CopyFailed,
    OutcomeUnknown,
    copy_to_many,
    wait_all,
)
from cocalc_widgets.emulator import Emulator, Faults

MIXED = dict(fail_rate=0.2, drop_rate=0.1, rate_limit_rate=0.1, retry_after=0)
LOST_REPLIES = dict(gateway_timeout_rate=0.2, drop_rate=0.2, after_fraction=1.0)


@pytest.fixture
def emu(tmp_path):
    emu = Emulator(data_dir=tmp_path / "data")
    emu.src = emu.create_project("src")  # type: ignore[attr-defined]
    emu.dst = emu.create_project("dst")  # type: ignore[attr-defined]
    (emu.project_path(emu.src) / "f.txt").write_text("payload\n")
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def fast_client(emu: Emulator, api: str, **kwargs) -> CoCalcClient:
    """A client with short timeouts and quick retries, so that the suite runs in seconds."""
    client = CoCalcClient(host=emu.url, api_key=emu.api_key, api=api, timeout=(2.0, 5.0),
                          deadline=20.0, pool_size=16, **kwargs)
    transport = client._transport
    transport.retry = dataclasses.replace(transport.retry, backoff=0.002, backoff_max=0.02, jitter=0.0)
    return client


def ledger_counts(emu: Emulator) -> Counter:
    return Counter((e["target_project_id"], e["target_path"]) for e in emu.ledger)


def assert_reason(err: BaseException) -> None:
    assert isinstance(err, CoCalcError), f"escaped: {type(err).__module__}.{type(err).__name__}: {err}"
    assert str(err).strip(), repr(err)
    text = repr(err) + str(err)
    assert "urllib3" not in text and "requests.exceptions" not in text, text


def copy_one(client: CoCalcClient, emu: Emulator, path: str) -> tuple[str, CoCalcError | None]:
    """One copy the way a careful user would: start, wait (waiting again after a transient
    polling error). Returns (outcome, error). Anything but a CoCalcError escapes the test."""
    try:
        job = client.copy_path_between_projects(emu.src, "f.txt", emu.dst, path)
    except OutcomeUnknown as err:
        return "unknown", err
    except CoCalcError as err:
        return "not started", err
    last: CoCalcError | None = None
    for _ in range(4):
        try:
            status = job.wait(timeout=15, progress=False)
            assert status.ok and status.done
            return "done", None
        except CopyFailed as err:
            return "failed", err
        except CoCalcError as err:  # polling failed after its retries: the copy goes on
            last = err
    return "wait failed", last


def check_outcomes(emu: Emulator, outcomes: dict[str, tuple[str, CoCalcError | None]]) -> Counter:
    counts = ledger_counts(emu)
    assert max(counts.values(), default=0) <= 1, [k for k, n in counts.items() if n > 1]
    for path, (outcome, err) in outcomes.items():
        ran = counts[(emu.dst, path)]
        if outcome == "done":
            assert ran == 1, path
            assert (emu.project_path(emu.dst) / path).read_text() == "payload\n"
        else:
            assert err is not None, path
            assert_reason(err)
            if outcome == "not started":  # the server refused it before doing anything
                assert ran == 0, (path, err)
            if outcome == "unknown":
                assert isinstance(err, OutcomeUnknown) and "may or may not" in str(err)
    return Counter(o for o, _ in outcomes.values())


@pytest.mark.parametrize(("api", "error_status"), [
    ("v1", 500),
    pytest.param("v2", 503, marks=pytest.mark.slow),
    pytest.param("v1", 503, marks=pytest.mark.slow), pytest.param("v2", 500, marks=pytest.mark.slow),
])
def test_200_copies_under_mixed_faults_end_done_once_or_reported(emu, api, error_status, caplog):
    caplog.set_level(logging.DEBUG)
    client = fast_client(emu, api)
    emu.faults = Faults(seed=6 + error_status + (api == "v2"), error_status=error_status, **MIXED)
    outcomes = {}
    for i in range(200):
        outcomes[f"out/{i}.txt"] = copy_one(client, emu, f"out/{i}.txt")
    emu.faults.off()
    assert emu.wait_idle(30)  # a copy whose reply was lost may still be running
    summary = check_outcomes(emu, outcomes)
    injected = Counter(f["kind"] for f in emu.faults.injected)
    assert injected["error"] > 50 and injected["drop"] > 20 and injected["rate_limit"] > 20, injected
    assert summary["done"] >= 120, summary  # retries carried most copies through
    for outcome, err in outcomes.values():
        if outcome == "unknown" and api == "v1":  # a lost copy reply was looked up, not given up on
            assert any(why in str(err) for why in ("no record", "looking it up failed", "ambiguous")), err
    client.close()


@pytest.mark.parametrize(("api", "n"), [("v1", 200), ("v2", 100), pytest.param("v2", 200, marks=pytest.mark.slow)])
def test_lost_replies_never_run_a_copy_twice(emu, api, n):
    """Drops and 504 pages *after* the copy ran: the client must not send it again; on API v1
    it finds the copy with copy_path_status, on v2 it says the outcome is unknown."""
    client = fast_client(emu, api)
    emu.faults = Faults(seed=60 + (api == "v2"), **LOST_REPLIES)
    outcomes = {f"lost/{i}.txt": copy_one(client, emu, f"lost/{i}.txt") for i in range(n)}
    emu.faults.off()
    assert emu.wait_idle(30)  # a copy whose reply was lost may still be running
    summary = check_outcomes(emu, outcomes)
    copy_requests = emu.request_count("copy_path_between_projects") + emu.request_count("projects/copy-path")
    assert copy_requests == n  # one request per copy, never re-sent
    assert len(emu.ledger) == n  # every request ran (the faults came after), exactly once
    if api == "v1":
        assert summary["done"] >= 0.95 * n, summary  # found by copy_path_status after the lost reply
    else:
        assert summary["unknown"] >= 0.2 * n and summary["done"] + summary["unknown"] + summary["wait failed"] == n, summary


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_fan_out_under_faults(emu, api):
    """copy_to_many + wait_all to 200 targets under mixed faults and lost replies."""
    targets = [emu.create_project(f"t{i}") for i in range(200)]
    (emu.project_path(emu.src) / "f.txt").write_text("payload\n")
    client = fast_client(emu, api)
    emu.faults = Faults(seed=600 + (api == "v2"), gateway_timeout_rate=0.05, **MIXED)
    results = copy_to_many(client, emu.src, "f.txt", [(t, "fan/f.txt") for t in targets], max_in_flight=16)
    wait_all(client, results, timeout=30, progress=False)
    emu.faults.off()
    assert emu.wait_idle(30)
    counts = ledger_counts(emu)
    assert max(counts.values(), default=0) <= 1
    states = Counter(r.state for r in results)
    for r in results:
        ran = counts[(r.target_project_id, "fan/f.txt")]
        if r.ok:
            assert ran == 1 and r.state == "done"
        else:
            assert r.reason.strip(), r
            assert_reason(r.error) if r.error is not None else None
            assert r.state in ("failed", "not started", "unknown"), r.state
            if r.state == "not started":
                assert ran == 0, (r.state, r.reason)
    assert states["done"] >= 120, states
    assert set(states) <= {"done", "failed", "not started", "unknown"}, states  # nothing left hanging


@pytest.mark.slow
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_1000_copies_under_all_faults(emu, api):
    client = fast_client(emu, api)
    emu.faults = Faults(seed=6000 + (api == "v2"), gateway_timeout_rate=0.05, **MIXED)
    outcomes = {f"big/{i}.txt": copy_one(client, emu, f"big/{i}.txt") for i in range(1000)}
    emu.faults.off()
    assert emu.wait_idle(30)  # a copy whose reply was lost may still be running
    summary = check_outcomes(emu, outcomes)
    assert summary["done"] >= 600, summary
