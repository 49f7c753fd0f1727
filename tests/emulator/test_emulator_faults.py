"""Fault injection, observed from the client side with plain ``requests``."""

from __future__ import annotations

import time

import pytest
import requests

from cocalc_widgets.emulator import Faults


def _copy_body(emulator, path="f.txt"):
    return {"src_project_id": emulator.pa, "src_path": path, "target_project_id": emulator.pb,
            "wait_until_done": True}


@pytest.fixture
def src_file(emulator):
    (emulator.project_path(emulator.pa) / "f.txt").write_text("f")
    return emulator.project_path(emulator.pb) / "f.txt"


def test_faults_off_by_default(api, emulator):
    assert not emulator.faults.active
    for _ in range(20):
        assert api.v1("ping").status_code == 200


def test_latency(api, emulator):
    emulator.faults.latency = 0.25
    start = time.time()
    assert api.v1("ping").status_code == 200
    assert time.time() - start >= 0.25


def test_server_errors_happen_before_the_operation(api, emulator, src_file):
    emulator.faults.configure(fail_rate=1.0)
    r = api.v1("copy_path_between_projects", _copy_body(emulator))
    assert r.status_code == 503 and "text/html" in r.headers["Content-Type"]
    assert not src_file.exists() and emulator.ledger == []
    emulator.faults.error_status = 502
    assert api.v1("ping").status_code == 502


def test_rate_limit_with_retry_after(api, emulator, src_file):
    emulator.faults.configure(rate_limit_rate=1.0, retry_after=3)
    r = api.v1("copy_path_between_projects", _copy_body(emulator))
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert not src_file.exists() and emulator.ledger == []


def test_dropped_connection_before(api, emulator, src_file):
    emulator.faults.configure(drop_rate=1.0, after_fraction=0.0)
    with pytest.raises(requests.ConnectionError):
        api.v1("copy_path_between_projects", _copy_body(emulator))
    assert not src_file.exists() and emulator.ledger == []
    emulator.faults.off()
    assert api.v1("ping").status_code == 200


def test_dropped_connection_after_the_copy_ran(api, emulator, src_file):
    emulator.faults.configure(drop_rate=1.0, after_fraction=1.0)
    with pytest.raises(requests.ConnectionError):
        api.v1("copy_path_between_projects", _copy_body(emulator))
    assert src_file.read_text() == "f" and len(emulator.ledger) == 1


def test_gateway_timeout_page_before_and_after(api, emulator, src_file):
    emulator.faults.configure(gateway_timeout_rate=1.0, after_fraction=0.0)
    r = api.v1("copy_path_between_projects", _copy_body(emulator))
    assert r.status_code == 504 and "<html>" in r.text and "text/html" in r.headers["Content-Type"]
    assert not src_file.exists()
    emulator.faults.after_fraction = 1.0
    r = api.v1("copy_path_between_projects", _copy_body(emulator))
    assert r.status_code == 504 and src_file.exists() and len(emulator.ledger) == 1


def test_seeded_faults_repeat_and_mix(emulator):
    def run(seed):
        faults = Faults(fail_rate=0.2, drop_rate=0.2, gateway_timeout_rate=0.2,
                        rate_limit_rate=0.2, seed=seed)
        return [(f.kind, f.after) if f else None for f in (faults.decide() for _ in range(200))]

    first, second = run(7), run(7)
    assert first == second
    kinds = {k[0] for k in first if k}
    assert kinds == {"error", "drop", "gateway_timeout", "rate_limit"}
    assert {k[1] for k in first if k and k[0] in ("drop", "gateway_timeout")} == {True, False}
    assert None in first


def test_request_log_proves_what_was_sent(api, emulator):
    assert emulator.request_count() == 0
    api.v1("ping")
    api.v2("projects/create", {})
    assert emulator.request_count("ping") == 1
    assert emulator.request_count(api="v2") == 1
    assert emulator.requests[0]["endpoint"] == "ping" and emulator.requests[0]["status"] == 200
    emulator.faults.configure(rate_limit_rate=1.0)
    api.v1("ping")
    assert emulator.requests[-1]["fault"] == "rate_limit"


def test_faults_accept_dict_and_mixed_rates(tmp_path):
    from cocalc_widgets.emulator import Emulator

    with Emulator(data_dir=tmp_path, faults={"fail_rate": 0.5, "seed": 1}) as emu:
        codes = [requests.post(f"{emu.url}/api/v1/ping", auth=(emu.api_key, "")).status_code
                 for _ in range(30)]
    assert set(codes) == {200, 503}
