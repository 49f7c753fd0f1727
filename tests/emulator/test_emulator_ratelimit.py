"""The emulator's gateway-style rate limit (``rate_limit`` / ``--rate-limit N/s``): exact above
N per second (a sliding one-second window), 429 with ``Retry-After``, a refused request does
nothing; counted; every API generation, not the pages."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest
import requests
from _running import start_command, stop_command

from cocalc_widgets.cli import build_parser
from cocalc_widgets.emulator import Emulator
from cocalc_widgets.emulator._ratelimit import RateLimiter, check_rate_limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the limiter alone (a fake clock: exact) -------------------------------------------------------
def test_a_burst_of_n_is_accepted_and_the_next_waits_for_the_oldest():
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.admit() for _ in range(3)] == [None, None, None]
    assert limiter.admit() == pytest.approx(1.0)
    clock.now += 0.4
    assert limiter.admit() == pytest.approx(0.6)
    clock.now += 0.6  # the burst is exactly one second old: it has left the window
    assert limiter.admit() is None
    assert (limiter.accepted, limiter.refused) == (4, 2)


def test_no_one_second_window_ever_holds_more_than_n():
    clock, n = FakeClock(), 10
    limiter = RateLimiter(n, clock=clock)
    accepted = []
    for i in range(5 * 4 * n):  # 4n requests/s for 5 s, evenly spread
        clock.now = 100.0 + i / (4 * n)
        if limiter.admit() is None:
            accepted.append(clock.now)
    assert len(accepted) == 5 * n
    for i, t in enumerate(accepted):
        in_window = [u for u in accepted[i:] if u < t + 1.0]
        assert len(in_window) <= n


def test_the_wait_says_when_a_request_would_be_accepted():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    for step in range(4):
        clock.now = 100.0 + 0.1 * step
        assert limiter.admit() is None
    clock.now = 100.35
    wait = limiter.admit()
    assert wait == pytest.approx(0.65)
    clock.now += wait - 1e-6
    assert limiter.admit() is not None
    clock.now += 2e-6
    assert limiter.admit() is None


def test_threads_at_once_get_exactly_n():
    limiter = RateLimiter(50, clock=FakeClock())
    results: list[float | None] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        mine = [limiter.admit() for _ in range(100)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 50 and (limiter.accepted, limiter.refused) == (50, 750)


def test_the_limit_changes_at_runtime_and_none_is_off():
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock)
    assert all(limiter.admit() is None for _ in range(1000)) and limiter.accepted == 0
    limiter.limit = 2
    assert [limiter.admit() for _ in range(3)][2] is not None
    limiter.limit = 5  # the two accepted still count
    assert [limiter.admit() is None for _ in range(4)] == [True, True, True, False]
    limiter.limit = 1  # five in the window: accepted once the last of them has left
    clock.now += 0.5
    assert limiter.admit() == pytest.approx(0.5)


@pytest.mark.parametrize("value, limit", [(200, 200), ("200/s", 200), ("200", 200),
                                          (" 7 / s ", 7), (3.0, 3), (None, None)])
def test_limit_values(value, limit):
    assert check_rate_limit(value) == limit


@pytest.mark.parametrize("value", [0, -1, 1.5, "abc", "1.5/s", "200/m", "", True, "0/s"])
def test_bad_limit_values(value):
    with pytest.raises(ValueError, match="whole number of requests per second"):
        check_rate_limit(value)


def test_retry_after_is_whole_seconds_at_least_one():
    assert [RateLimiter.retry_after(w) for w in (1e-6, 0.5, 1.0, 1.2)] == ["1", "1", "1", "2"]


# -- over HTTP ---------------------------------------------------------------------------------
def _copy_body(emu, **more):
    return {"src_project_id": emu.pa, "src_path": "f.txt", "target_project_id": emu.pb, **more}


def test_a_refused_request_is_429_with_retry_after_and_does_nothing(api, emulator):
    (emulator.project_path(emulator.pa) / "f.txt").write_text("f")
    emulator.rate_limit = 3
    assert [api.v1("ping").status_code for _ in range(3)] == [200, 200, 200]
    refused = [
        api.v1("copy_path_between_projects", _copy_body(emulator)),
        api.v2("projects/copy-path", _copy_body(emulator, path="f.txt")),
        api.conat("hub", {"name": "projects.copyPathBetweenProjects",
                          "args": [_copy_body(emulator)]}),
    ]
    for r in refused:
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.json() == {"error": "Too many requests, please try again later."}
    assert emulator.copies.ops == {} and emulator.ledger == []
    assert not (emulator.project_path(emulator.pb) / "f.txt").exists()
    assert emulator.rate_limited == 3
    marks = [(r["endpoint"], r["fault"], r.get("status")) for r in emulator.requests[3:]]
    assert marks == [
        ("copy_path_between_projects", "rate_limit", 429),
        ("projects/copy-path", "rate_limit", 429),
        ("projects.copyPathBetweenProjects", "rate_limit", 429),
    ]
    time.sleep(1.0)  # Retry-After
    r = api.v1("copy_path_between_projects", _copy_body(emulator, wait_until_done=True))
    assert r.status_code == 200 and r.json()["event"] == "success"
    assert len(emulator.ledger) == 1 and emulator.rate_limited == 3


def test_pages_and_the_debug_ledger_are_not_limited(api, emulator):
    emulator.rate_limit = 1
    assert api.v1("ping").status_code == 200
    for _ in range(5):
        assert requests.get(f"{emulator.url}/", timeout=10).status_code == 200
        page = requests.get(f"{emulator.url}/projects/{emulator.pa}/files/", timeout=10)
        assert page.status_code != 429
        ledger = requests.get(f"{emulator.url}/_emulator/ledger", auth=api.auth, timeout=10)
        assert ledger.status_code == 200
    assert api.v1("ping").status_code == 429 and emulator.rate_limited == 1


def test_parallel_clients_get_exactly_n_per_second(emulator):
    emulator.rate_limit = 10
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def ping() -> None:
        with requests.Session() as session:
            start.wait()
            r = session.post(f"{emulator.url}/api/v1/ping", auth=(emulator.api_key, ""),
                             timeout=10)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=ping) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arrivals = [r["time"] for r in emulator.requests]
    assert max(arrivals) - min(arrivals) < 0.9, "the burst took too long to say anything"
    assert statuses.count(200) == 10 and statuses.count(429) == 30
    assert emulator.rate_limited == 30


def test_latency_is_paid_by_refused_requests_too(api, emulator):
    emulator.rate_limit = 1
    emulator.faults.latency = 0.2
    api.v1("ping")
    start = time.monotonic()
    assert api.v1("ping").status_code == 429
    assert time.monotonic() - start >= 0.2


def test_front_page_shows_the_limit(emulator):
    assert 'id="rate-limit" data-rate-limit=""' in requests.get(emulator.url, timeout=10).text
    emulator.rate_limit = "25/s"
    body = requests.get(emulator.url, timeout=10).text
    assert 'data-rate-limit="25"' in body and "25 API requests per second" in body


def test_emulator_argument(tmp_path):
    emu = Emulator(data_dir=tmp_path, rate_limit="5/s")
    assert emu.rate_limit == 5
    emu.rate_limit = None
    assert emu.rate_limit is None
    with pytest.raises(ValueError):
        Emulator(data_dir=tmp_path, rate_limit=0)
    with pytest.raises(ValueError):
        emu.rate_limit = "fast"


# -- command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, limit", [("200/s", 200), ("200", 200)])
def test_flag_parses(flag, limit):
    assert build_parser().parse_args(["emulator", "--rate-limit", flag]).rate_limit == limit
    assert build_parser().parse_args(["emulator"]).rate_limit is None


@pytest.mark.parametrize("flag", ["0", "-3", "2.5/s", "200/min", "lots"])
def test_bad_flag_is_a_usage_error(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["emulator", "--rate-limit", flag])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --rate-limit" in err and "whole number of requests per second" in err


def test_command_prints_the_limit_and_enforces_it(tmp_path):
    proc, text = start_command(
        "cocalc_widgets.emulator", "--port", "0", "--data", str(tmp_path), "--api-key",
        "sk-ratelimitclitest", "--rate-limit", "2/s", timeout=20, stderr=subprocess.PIPE,
    )
    try:
        assert "rate limit: 2 requests/s (sliding one-second window" in text
        url = re.search(r"running at (http://127\.0\.0\.1:\d+)", text).group(1)
        statuses = [
            requests.post(f"{url}/api/v1/ping", auth=("sk-ratelimitclitest", ""), timeout=5)
            for _ in range(3)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[2].headers["Retry-After"] == "1"
    finally:
        stop_command(proc)
    assert proc.returncode == 0
