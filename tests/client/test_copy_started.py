"""A generation's copy returns an id or a status (``CopyStarted``), never a ``CopyJob``; one
place, ``_api.router.copy_job``, makes the job of each kind (issue 20, item 2).

The generations run against mocked HTTP (responses); the builder is checked for each kind with
a stand-in generation, as the router calls it.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
import responses

import cocalc_widgets._api as api_package
from cocalc_widgets import CoCalcError, CopyJob, CopyStatus
from cocalc_widgets._api.base import (
    ClientSettings,
    CopyById,
    CopyDone,
    CopyInBackground,
    Generation,
    finished_now,
)
from cocalc_widgets._api.conat import Conat
from cocalc_widgets._api.router import copy_job
from cocalc_widgets._api.v1 import V1
from cocalc_widgets._api.v2 import V2
from cocalc_widgets._http import Transport
from cocalc_widgets.copyjob import CopyRequest, poll_delays

HOST = "https://cocalc.example"
KEY = "sk-TestKeyTestKeyTestKey1"
SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
COPY = "65cd2079-098d-4147-bb54-12d44cebb8cb"
REQUEST = CopyRequest(src_project_id=SRC, src_path="a.txt", target_project_id=DST)


def generation(kind: type[Generation]) -> Generation:
    return kind(Transport(KEY), HOST, ClientSettings())


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


# -- the generations return what they know, not a job ----------------------------------------------
def test_no_generation_module_makes_a_copy_job():
    """Only the router names ``CopyJob`` in ``_api/``: a generation that built one itself (or
    imported it to) fails here."""
    folder = Path(api_package.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name == "router.py":
            continue
        names = {
            node.id if isinstance(node, ast.Name) else node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.Name, ast.alias))
        }
        assert "CopyJob" not in names, path.name


def test_v1_a_copy_with_an_id(rsps):
    rsps.post(f"{HOST}/api/v1/copy_path_between_projects", json={"copy_path_id": COPY})
    assert generation(V1).copy(REQUEST) == CopyById(COPY)


def test_v1_a_scheduled_copy_is_known_to_be_scheduled(rsps):
    rsps.post(f"{HOST}/api/v1/copy_path_between_projects", json={"copy_path_id": COPY})
    started = generation(V1).copy(CopyRequest(SRC, "a.txt", DST, scheduled="2030-01-01T00:00:00Z"))
    assert isinstance(started, CopyById) and started.copy_id == COPY
    assert started.known is not None and started.known.state == "scheduled"


def test_v1_a_copy_done_before_the_reply(rsps):
    rsps.post(f"{HOST}/api/v1/copy_path_between_projects", json={"event": "success"})
    started = generation(V1).copy(REQUEST)
    assert isinstance(started, CopyDone) and started.status.ok
    assert started.status.raw == {"event": "success"}


@pytest.mark.parametrize("reply", [{"copy_id": ""}, {}], ids=["single-user id ''", "no id"])
def test_v2_a_copy_without_an_id_is_done(rsps, reply):
    rsps.post(f"{HOST}/api/v2/projects/copy-path", json=reply)
    started = generation(V2).copy(REQUEST)
    assert isinstance(started, CopyDone) and started.status.ok


def test_v2_a_copy_with_an_id(rsps):
    rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"copy_id": COPY})
    assert generation(V2).copy(REQUEST) == CopyById(COPY)


def test_conat_a_waited_copy_is_done(rsps):
    rsps.post(f"{HOST}/api/conat/hub", body="null", content_type="application/json")
    request = CopyRequest(SRC, "a.txt", DST, wait_until_done=True)
    started = generation(Conat).copy(request)
    assert isinstance(started, CopyDone) and started.status.ok


def test_conat_a_copy_not_waited_runs_in_the_background(rsps):
    rsps.post(f"{HOST}/api/conat/hub", body="null", content_type="application/json")
    gen = generation(Conat)
    try:
        started = gen.copy(REQUEST)
        assert isinstance(started, CopyInBackground)
        assert started.changed.wait(10)
        assert started.status().ok
    finally:
        gen.close()


# -- the one builder, for each kind ---------------------------------------------------------------
class StandIn(Generation):
    """A generation whose status requests are counted (or fail)."""

    name = ""  # not registered

    def __init__(self, error: CoCalcError | None = None) -> None:
        super().__init__(Transport(KEY), HOST, ClientSettings(poll_schedule=poll_delays(first=0)))
        self.asked: list[tuple[str, CopyRequest | None]] = []
        self.error = error

    def copy_status(self, copy_path_id: str, request: CopyRequest | None) -> CopyStatus:
        self.asked.append((copy_path_id, request))
        if self.error is not None:
            raise self.error
        return finished_now(REQUEST)


def test_a_copy_by_id_is_polled_by_its_id_on_the_generations_schedule():
    gen = StandIn()
    gen.name = "v2"
    job = copy_job(CopyById(COPY), REQUEST, gen)
    assert isinstance(job, CopyJob) and not job.background
    assert (job.copy_path_id, job.api, job.request, job.last_status) == (COPY, "v2", REQUEST, None)
    assert job.wait(progress=False).ok
    assert gen.asked == [(COPY, REQUEST)] and job.polls == 1


def test_a_copy_by_id_starts_from_what_is_known_and_when_it_was_sent():
    known = CopyStatus(copy_path_id=COPY, scheduled=finished_now(REQUEST).finished)
    job = copy_job(CopyById(COPY, known), REQUEST, StandIn(), requested_at=12.5)
    assert job.last_status is known and job.requested_at == 12.5


def test_a_status_requests_error_names_the_call_and_the_generation():
    gen = StandIn(CoCalcError("no", endpoint="projects/copy-path-status"))
    gen.name = "v2"
    job = copy_job(CopyById(COPY), REQUEST, gen)
    with pytest.raises(CoCalcError) as err:
        job.status()
    assert err.value.endpoint == "copy_path_status"
    assert err.value.route == "v2 projects/copy-path-status"


def test_a_finished_copy_is_done_without_a_request():
    gen = StandIn()
    gen.name = "v1"
    status = finished_now(REQUEST, {"event": "success"})
    job = copy_job(CopyDone(status), REQUEST, gen)
    assert (job.copy_path_id, job.api, job.last_status) == (None, "v1", status)
    assert job.done and job.wait() is status
    assert gen.asked == [] and job.polls == 0


def test_a_background_copy_is_watched_at_no_cost_and_its_errors_are_the_copys():
    changed = threading.Event()
    calls: list[int] = []

    def status() -> CopyStatus:
        calls.append(1)
        raise CoCalcError("lost", endpoint="projects.copyPathBetweenProjects")

    gen = StandIn()
    gen.name = "conat"
    job = copy_job(CopyInBackground(status, changed), REQUEST, gen)
    assert (job.copy_path_id, job.api, job.background) == (None, "conat", True)
    with pytest.raises(CoCalcError) as err:
        job.status()
    assert err.value.endpoint == "copy_path_between_projects"
    assert err.value.route == "conat projects.copyPathBetweenProjects"
    assert job.polls == 0 and calls == [1] and gen.asked == []
