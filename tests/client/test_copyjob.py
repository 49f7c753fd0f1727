"""CopyJob.wait(): adaptive polling, timeouts, failures, reprs (with a fake status source).

The polling schedule's tests run on a virtual clock (``clock``): what they assert is when the
schedule polls, which a loaded machine's late wake-ups would blur on the real one.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from cocalc_widgets import CoCalcTimeout, CopyFailed, CopyJob, CopyStatus, copyjob
from cocalc_widgets.copyjob import CopyRequest, poll_delays

SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
COPY = "65cd2079-098d-4147-bb54-12d44cebb8cb"
REQUEST = CopyRequest(src_project_id=SRC, src_path="a.txt", target_project_id=DST)


class VirtualClock:
    """Stands in for ``time`` in :mod:`cocalc_widgets.copyjob`: ``sleep`` moves the clock on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        # A real sleep always takes a little time: a tiny float rest (0.3 - 0.2999...) must
        # not leave the clock where it was.
        self.now += max(seconds, 1e-6)

    def time(self) -> float:
        return time.time()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr(copyjob, "time", virtual)
    return virtual


class FakeCopy:
    """Stands in for CoCalc: a copy that finishes ``duration`` seconds after it started
    (on ``clock``: the real one, or a :class:`VirtualClock`)."""

    def __init__(self, duration: float, error: str | None = None, clock: Any = time) -> None:
        self.clock = clock
        self.start = clock.monotonic()
        self.duration = duration
        self.error = error
        self.polls: list[float] = []
        self.poll_schedule = poll_delays()

    @property
    def finished_at(self) -> float:
        return self.start + self.duration

    def status_of(self, copy_path_id: str) -> CopyStatus:
        now = self.clock.monotonic()
        self.polls.append(now)
        stamp = datetime.now(timezone.utc)
        done = now >= self.finished_at
        return CopyStatus(
            copy_path_id=copy_path_id,
            source_project_id=SRC,
            source_path="a.txt",
            target_project_id=DST,
            started=stamp,
            finished=stamp if done else None,
            error=self.error if done else None,
        )


def job_for(fake: FakeCopy) -> CopyJob:
    return CopyJob(
        COPY, REQUEST, poll=lambda: fake.status_of(COPY), schedule=fake.poll_schedule, api="v1"
    )


def test_a_short_copy_is_seen_within_tens_of_milliseconds(clock):
    delays = []
    for duration in (0.2, 0.27, 0.33, 0.41, 0.5):
        fake = FakeCopy(duration, clock=clock)
        status = job_for(fake).wait(progress=False)
        assert status.ok
        assert fake.polls[-2] < fake.finished_at  # the first poll after it finished saw it
        delays.append(fake.polls[-1] - fake.finished_at)
    delays.sort()
    assert max(delays) <= 0.1 + 1e-9, delays  # the schedule's floor: one poll every 0.1 s
    assert delays[len(delays) // 2] < 0.08, delays  # the median


def test_a_long_copy_costs_few_requests(clock):
    fake = FakeCopy(3.0, clock=clock)
    job = job_for(fake)
    job.wait(progress=False)
    assert job.polls == len(fake.polls) <= 18
    assert fake.polls[-1] - fake.finished_at < 0.8


def test_schedule_grows_with_the_time_waited_up_to_a_cap():
    delay = poll_delays()
    assert delay(0) == 0.03 and delay(0.05) == 0.1
    assert delay(10) == pytest.approx(2.0)
    assert delay(10_000) == 60
    # A 10-minute copy: count the polls the schedule makes.
    t, polls = 0.0, 0
    while t < 600:
        t += delay(t)
        polls += 1
    assert polls < 60


def test_failed_copy_raises_copy_failed_with_the_server_text():
    fake = FakeCopy(0.05, error="rsync: No such file or directory")
    job = job_for(fake)
    with pytest.raises(CopyFailed, match="No such file") as info:
        job.wait(progress=False)
    assert info.value.copy_status.error.startswith("rsync")
    assert job.done and not job.ok and job.error.startswith("rsync")
    assert job_for(FakeCopy(0.0, error="x")).wait(raise_on_error=False).error == "x"


def test_a_failure_seen_by_polling_names_copy_path_status_and_one_known_at_once_the_copy():
    """What was really called: a status that was asked for (``copy_path_status``), or the copy
    request itself when the job never asked (it ended with its request)."""
    polled = job_for(FakeCopy(0.0, error="rsync: No such file or directory"))
    with pytest.raises(CopyFailed) as info:
        polled.wait(progress=False)
    assert (info.value.endpoint, info.value.route) == ("copy_path_status", "v1")
    ended = CopyStatus(source_path="a.txt", finished=datetime.now(timezone.utc), error="boom")
    known = CopyJob(None, REQUEST, last=ended, api="v2")
    with pytest.raises(CopyFailed) as info:
        known.wait(progress=False)
    assert info.value.endpoint == "copy_path_between_projects" and known.polls == 0
    assert "copy_path_status" not in str(info.value)


def test_wait_timeout_says_the_copy_goes_on(clock):
    fake = FakeCopy(10.0, clock=clock)
    job = job_for(fake)
    start = clock.monotonic()
    with pytest.raises(CoCalcTimeout, match="goes on"):
        job.wait(timeout=0.3, progress=False)
    assert clock.monotonic() - start == pytest.approx(0.3)  # the timeout, not a poll later
    assert not job.last_status.done


def test_properties_ask_once_then_remember_a_finished_copy():
    fake = FakeCopy(0.0)
    job = job_for(fake)
    assert job.done and job.ok and job.error is None
    assert len(fake.polls) == 1


def test_reprs_are_readable_and_html_escapes():
    fake = FakeCopy(0.0, error="<b>bad</b>")
    job = job_for(fake)
    assert "CopyJob" in repr(job) and "a.txt" in repr(job)
    job.wait(raise_on_error=False)
    assert "failed" in repr(job) and "<b>bad</b>" in repr(job)
    html = job._repr_html_()
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<b>bad</b>" not in html
    assert "failed" in repr(job.last_status)
