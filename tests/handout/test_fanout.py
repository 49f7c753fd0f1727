"""Watching many copies: one search per round on API v1, and no copy lost when that search
comes back as a full page (a project with a long copy history)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from cocalc_widgets import CopyJob, CopyStatus
from cocalc_widgets.copyjob import CopyRequest
from cocalc_widgets.handout import CopyResult, CopyResults
from cocalc_widgets.handout.fanout import _poll_round

SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"


class FakeClient:
    api = "v1"
    clock_skew = 0.0

    def __init__(self, page: list[CopyStatus]) -> None:
        self.page = page
        self.searches = 0
        self.singles: list[str] = []

    def copy_path_status(self, **filters):
        self.searches += 1
        if isinstance(self.page, dict):  # pages by offset
            return self.page.get(filters.get("offset") or 0, [])
        return self.page

    def status_of(self, copy_path_id):
        self.singles.append(copy_path_id)
        return CopyStatus(copy_path_id=copy_path_id)


def job_of(client, api):
    copy_id = str(uuid.uuid4())
    request = CopyRequest(src_project_id=SRC, src_path="f", target_project_id=str(uuid.uuid4()))
    return CopyJob(copy_id, request, poll=lambda: client.status_of(copy_id), api=api)


def results_for(client, n=3):
    return CopyResults(CopyResult(str(uuid.uuid4()), None, job=job_of(client, client.api)) for _ in range(n))


def old_rows(n, when):
    stamp = datetime.fromtimestamp(when, tz=timezone.utc)
    return [CopyStatus(copy_path_id=str(uuid.uuid4()), time=stamp, finished=stamp) for _ in range(n)]


def test_one_search_per_round_and_finished_copies_are_picked_up():
    client = FakeClient([])
    results = results_for(client)
    now = datetime.now(timezone.utc)
    client.page = [CopyStatus(copy_path_id=results[0].job.copy_path_id, time=now, finished=now)]
    with ThreadPoolExecutor(4) as pool:
        _poll_round(client, list(results), pool)
    assert client.searches == 1 and client.singles == []
    assert [r.status.done if r.status else False for r in results] == [True, False, False]


def test_a_full_page_of_older_copies_means_ours_are_unfinished():
    client = FakeClient(old_rows(1000, time.time() - 3600))
    results = results_for(client)
    with ThreadPoolExecutor(4) as pool:
        _poll_round(client, list(results), pool)
    assert client.singles == []  # ours would be on the page if they had finished


def test_a_full_page_of_newer_copies_means_the_next_page_is_searched():
    client = FakeClient([])
    results = results_for(client)
    now = datetime.now(timezone.utc)
    ours = [CopyStatus(copy_path_id=r.job.copy_path_id, time=now, finished=now) for r in results[:2]]
    client.page = {0: old_rows(1000, time.time() + 60), 1000: ours + old_rows(5, time.time() - 3600)}
    with ThreadPoolExecutor(4) as pool:
        _poll_round(client, list(results), pool)
    assert client.searches == 2 and client.singles == []  # paged, never one request per copy
    assert [bool(r.status and r.status.done) for r in results] == [True, True, False]


class FakeV2:
    """API v2 (no search): copies that all finish ``duration`` seconds from now."""

    api = "v2"
    clock_skew = 0.0

    def __init__(self, duration: float) -> None:
        from cocalc_widgets.copyjob import poll_delays

        self.poll_schedule = poll_delays()
        self.finish_at = time.monotonic() + duration
        self.calls: list[float] = []

    def status_of(self, copy_path_id):
        now = time.monotonic()
        self.calls.append(now)
        stamp = datetime.now(timezone.utc)
        return CopyStatus(copy_path_id=copy_path_id, started=stamp, finished=stamp if now >= self.finish_at else None)


def test_v2_probes_the_oldest_copies_until_one_finishes_then_polls_all():
    from cocalc_widgets.handout.fanout import wait_all

    client = FakeV2(0.6)
    results = results_for(client, n=40)
    start = time.monotonic()
    wait_all(client, results, progress=False)
    assert all(r.ok for r in results)
    # Seen soon after they finished (0.6 s): the schedule polls every 0.12 s by then; the rest
    # is room for a loaded machine, far below waiting out a slow schedule.
    assert time.monotonic() - start < 0.6 + 1.0
    early = [t for t in client.calls if t < client.finish_at]
    assert len(early) <= 4 * 8  # only the probes while nothing had finished (not 40 per round)
    assert len(client.calls) < 40 * 2 + len(early)
