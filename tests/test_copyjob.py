"""CopyJob.wait(): adaptive polling, timeouts, failures, reprs (with a fake status source)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from cocalc_widgets import CoCalcTimeout, CopyFailed, CopyJob, CopyStatus
from cocalc_widgets.copyjob import CopyRequest, poll_delays

SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
COPY = "65cd2079-098d-4147-bb54-12d44cebb8cb"
REQUEST = CopyRequest(src_project_id=SRC, src_path="a.txt", target_project_id=DST)


class FakeCopy:
    """Stands in for CoCalc: a copy that finishes ``duration`` seconds after it started."""

    def __init__(self, duration: float, error: str | None = None) -> None:
        self.start = time.monotonic()
        self.duration = duration
        self.error = error
        self.polls: list[float] = []
        self.poll_schedule = poll_delays()

    @property
    def finished_at(self) -> float:
        return self.start + self.duration

    def status_of(self, copy_path_id: str) -> CopyStatus:
        now = time.monotonic()
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


def test_a_short_copy_is_seen_within_tens_of_milliseconds():
    delays = []
    for duration in (0.2, 0.27, 0.33, 0.41, 0.5):
        fake = FakeCopy(duration)
        status = job_for(fake).wait(progress=False)
        assert status.ok
        delays.append(fake.polls[-1] - fake.finished_at)
    delays.sort()
    assert delays[len(delays) // 2] < 0.08, delays  # the median; generous for a shared machine


def test_a_long_copy_costs_few_requests():
    fake = FakeCopy(3.0)
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


def test_wait_timeout_says_the_copy_goes_on():
    fake = FakeCopy(10.0)
    job = job_for(fake)
    start = time.monotonic()
    with pytest.raises(CoCalcTimeout, match="goes on"):
        job.wait(timeout=0.3, progress=False)
    assert time.monotonic() - start < 1.0
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
