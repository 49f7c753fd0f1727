"""Backpressure: the client's pacer slows to what the server accepts when it answers 429 with a
Retry-After, waits out the Retry-After, grows back slowly, and ignores refusals that say nothing
of when to come back (a flaky server is not a reason to starve)."""

from __future__ import annotations

import math
import os
import tempfile

from cocalc_widgets import CoCalcClient, copy_to_many, wait_all
from cocalc_widgets._pacing import Pacer
from cocalc_widgets.emulator import Emulator


class Clock:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_unpaced_until_the_server_pushes_back_then_paced_just_under_what_it_accepted():
    clock = Clock()
    pacer = Pacer(clock=clock.now, sleep=clock.sleep)
    for _ in range(200):  # 200 answers accepted within one second
        pacer.acquire()
        pacer.record(200, 0.01)
        clock.t += 0.004
    assert math.isinf(pacer.rate) and clock.slept == [] and pacer.describe() == ""
    pacer.record(429, 0.01, retry_after=1.0)
    assert pacer.limit == 200 and 180 <= pacer.rate < 200
    assert pacer.describe() == "≤ 194 requests/s (server limit ≈ 200/s)"
    pacer.record(429, 0.01, retry_after=1.0)  # the same burst's refusals: one signal
    assert pacer.limit == 200 and 180 <= pacer.rate < 200
    clock.slept.clear()
    pacer.acquire()  # waits out Retry-After
    assert clock.slept and 0.9 <= clock.slept[0] <= 1.0
    start = clock.t
    for _ in range(100):
        pacer.acquire()
    assert abs((clock.t - start) - 100 / pacer.rate) < 0.05  # spaced at the rate
    rate = pacer.rate
    for _ in range(250):  # good answers for 25 s: the rate holds
        clock.t += 0.1
        pacer.record(200, 0.01)
    assert pacer.rate == rate
    for _ in range(100):  # and then grows, slowly, to find out whether the limit moved
        clock.t += 0.1
        pacer.record(200, 0.01)
    assert rate * 1.05 < pacer.rate < rate * 1.15


def test_once_the_limit_is_known_a_few_refusals_hold_back_only_the_refused_request():
    clock = Clock()
    pacer = Pacer(clock=clock.now, sleep=clock.sleep)
    for _ in range(200):
        pacer.record(200, 0.01)
        clock.t += 0.004
    pacer.record(429, 0.01, retry_after=1.0)  # the first: everyone waits
    assert pacer._paused_until > clock.t
    clock.t += 5
    for _ in range(190):  # a second at the rate, then requests that arrived bunched together
        pacer.record(200, 0.01)
        clock.t += 1 / 190
    rate = pacer.rate
    pacer.record(429, 0.01, retry_after=1.0)
    assert pacer._paused_until < clock.t  # nobody else waits
    assert pacer.rate <= rate  # and the rate does not grow from it
    clock.t += 1.5
    for _ in range(40):  # a server that refuses a good share of the answers: everyone waits
        pacer.record(200, 0.01)
        pacer.record(429, 0.01, retry_after=2.0)
        clock.t += 0.01
    assert pacer._paused_until > clock.t + 1


def test_climbing_latency_slows_it_without_a_refusal():
    clock = Clock()
    pacer = Pacer(clock=clock.now, sleep=clock.sleep)
    for _ in range(100):
        pacer.record(200, 0.05)
        clock.t += 0.01
    for _ in range(30):  # a little slower: nothing happens
        pacer.record(200, 0.15)
        clock.t += 0.01
    assert math.isinf(pacer.rate)
    for _ in range(60):  # seconds instead of milliseconds: the server is drowning
        pacer.record(200, 3.0)
        clock.t += 0.01
    assert pacer.rate <= 0.8 * 100 + 1 and pacer.refused == 0
    assert clock.slept == []  # no pause: nobody said to wait


def test_refusals_without_retry_after_do_not_slow_it_and_it_never_starves():
    clock = Clock()
    pacer = Pacer(clock=clock.now, sleep=clock.sleep)
    for i in range(300):
        pacer.record(503 if i % 3 == 0 else 200, 0.01)
        clock.t += 0.005
    assert math.isinf(pacer.rate)
    for _ in range(20):  # a server refusing with Retry-After over and over
        pacer.record(429, 0.01, retry_after=1)
        clock.t += 1.5
    assert pacer.rate >= 0.5 * 200 * 0.5  # never below half the best accepted rate seen


def test_a_fan_out_against_a_rate_limited_gateway_stays_under_it(tmp_path):
    os.environ.setdefault("COCALC_WIDGETS_JOURNAL", tempfile.mktemp())
    with Emulator(data_dir=tmp_path / "d", copy_delay=0.2, rate_limit=50) as emu:
        src = emu.create_project("s")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = emu.create_projects([f"t{i}" for i in range(200)])
        with CoCalcClient(host=emu.url, api_key=emu.api_key, api="v1", pool_size=32) as client:
            results = copy_to_many(client, src, "f.txt", targets, max_in_flight=32, journal=False)
            wait_all(client, results, progress=False, max_in_flight=32, timeout=60)
            assert results.counts() == {"done": 200}
            assert client._transport.pacer.rate < 60
        # The refusals are the first burst's (at most max_in_flight = 32 of them before the first
        # 429 came back) and, once the limit is known, jitter: requests that reached the server
        # bunched together, which a loaded machine makes more of. The pacer treats fewer than a
        # fifth of the answers refused as jitter (a fifth pauses everyone), so that is the bound
        # on the rest; an unpaced client has most of its 200 copies refused at once.
        burst = 32
        jitter = (len(emu.requests) - burst) / 5
        assert emu.rate_limited <= burst + jitter, (emu.rate_limited, len(emu.requests))
        assert len(emu.ledger) == 200  # a refused request did nothing; none was sent twice
