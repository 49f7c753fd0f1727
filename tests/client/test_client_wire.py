"""The client's wire format for API v1 and v2, checked with mocked HTTP (responses)."""

from __future__ import annotations

import base64
import json

import pytest
import responses

from cocalc_widgets import BadInput, CoCalcClient, CopyJob, CopyStatus
from cocalc_widgets.client import AuthToken

HOST = "https://cocalc.example"
KEY = "sk-TestKeyTestKeyTestKey1"
SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
COPY = "65cd2079-098d-4147-bb54-12d44cebb8cb"


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def body_of(call) -> dict:
    return json.loads(call.request.body)


@pytest.fixture
def v1():
    with responses.RequestsMock() as rsps, CoCalcClient(api_key=KEY, host=HOST, api="v1") as c:
        yield c, rsps


@pytest.fixture
def v2():
    with responses.RequestsMock() as rsps, CoCalcClient(api_key=KEY, host=HOST, api="v2") as c:
        yield c, rsps


def test_v1_copy_request_is_exactly_what_the_contract_says(v1):
    client, rsps = v1
    rsps.post(
        f"{HOST}/api/v1/copy_path_between_projects",
        json={"event": "copy_path_between_projects_response", "id": "x", "copy_path_id": COPY},
    )
    job = client.copy_path_between_projects(SRC, "a/b.txt", DST, exclude=["*.tmp"], timeout=30)
    assert isinstance(job, CopyJob) and job.copy_path_id == COPY
    call = rsps.calls[0]
    assert call.request.method == "POST"
    assert call.request.headers["Authorization"] == _basic()
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["User-Agent"].startswith("cocalc-widgets/")
    assert body_of(call) == {
        "src_project_id": SRC,
        "src_path": "a/b.txt",
        "target_project_id": DST,
        "overwrite_newer": False,
        "delete_missing": False,
        "backup": False,
        "timeout": 30,
        "exclude": ["*.tmp"],
        "wait_until_done": False,
    }
    assert "id" not in body_of(call)


def test_every_request_has_connect_and_read_timeouts(v1):
    client, rsps = v1
    rsps.post(
        f"{HOST}/api/v1/ping", json={"event": "pong", "id": "x", "now": "2026-01-01T00:00:00Z"}
    )
    client.ping()
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_a_v2_copy_may_take_as_long_as_the_copy_before_its_reply(v2):
    # Outside KuCalc (single-user CoCalc, a self-hosted server) copy-path answers after the copy,
    # even with wait_until_done false: a copy slower than the 30 s read timeout used to end
    # "unknown" though it ran (issue 19: 1 of 16 copies against the real server).
    client, rsps = v2
    rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"copy_id": ""})
    rsps.post(f"{HOST}/api/v2/user-query", json={"query": {}})
    assert client.copy_path_between_projects(SRC, "a.txt", DST).last_status.ok
    assert rsps.calls[0].request.req_kwargs["timeout"] == (5.0, client.copy_wait)
    client.query({"projects": [{"project_id": None}]})
    assert rsps.calls[1].request.req_kwargs["timeout"] == (5.0, 30.0)  # other calls: as before


def test_v2_copy_uses_v2_names_and_hides_them(v2):
    client, rsps = v2
    rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"copy_id": COPY})
    job = client.copy_path_between_projects(SRC, "a.txt", DST, "b.txt", bwlimit="1M")
    assert job.copy_path_id == COPY
    assert body_of(rsps.calls[0]) == {
        "src_project_id": SRC,
        "path": "a.txt",
        "target_project_id": DST,
        "target_path": "b.txt",
        "overwrite_newer": False,
        "delete_missing": False,
        "backup": False,
        "bwlimit": "1M",
        "wait_until_done": False,
    }
    rsps.post(
        f"{HOST}/api/v2/projects/copy-path-status",
        json={
            "started": "2026-01-01T00:00:00Z",
            "finished": "2026-01-01T00:00:01Z",
            "copy_error": None,
        },
    )
    status = job.status()
    assert body_of(rsps.calls[1]) == {"copy_id": COPY}
    assert status.ok and status.copy_path_id == COPY
    assert (status.source_project_id, status.source_path, status.target_path) == (
        SRC,
        "a.txt",
        "b.txt",
    )


@pytest.mark.parametrize(
    ("api", "kwargs", "word"),
    [
        ("v2", {"scheduled": "2030-01-01T00:00:00"}, "scheduled"),
        ("v2", {"exclude": ["x"]}, "exclude"),
        ("v1", {"bwlimit": "1M"}, "bwlimit"),
    ],
)
def test_an_option_the_api_lacks_is_an_error_not_dropped(api, kwargs, word):
    with responses.RequestsMock() as rsps, CoCalcClient(api_key=KEY, host=HOST, api=api) as c:
        with pytest.raises(BadInput, match=word):
            c.copy_path_between_projects(SRC, "a", DST, **kwargs)
        assert len(rsps.calls) == 0


def test_v1_synchronous_success_gives_a_finished_job(v1):
    client, rsps = v1
    rsps.post(f"{HOST}/api/v1/copy_path_between_projects", json={"event": "success", "id": "x"})
    job = client.copy_path_between_projects(SRC, "a", DST, wait_until_done=True)
    assert job.copy_path_id is None and job.done and job.ok
    assert job.wait().ok
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.req_kwargs["timeout"][1] >= 240  # the server may wait 240 s


def test_v1_scheduled_copy_sends_utc_and_can_be_deleted(v1):
    client, rsps = v1
    rsps.post(
        f"{HOST}/api/v1/copy_path_between_projects",
        json={"event": "copy_path_between_projects_response", "id": "x", "copy_path_id": COPY},
    )
    job = client.copy_path_between_projects(SRC, "a", DST, scheduled="2030-01-02T03:04:05+01:00")
    assert body_of(rsps.calls[0])["scheduled"] == "2030-01-02T02:04:05.000Z"
    assert job.last_status.state == "scheduled"
    rsps.post(
        f"{HOST}/api/v1/copy_path_delete",
        json={
            "event": "copy_path_status_response",
            "id": "y",
            "data": f"copy_path_id = '{COPY}' deleted",
        },
    )
    assert "deleted" in client.copy_path_delete(COPY)
    assert body_of(rsps.calls[1]) == {"copy_path_id": COPY}


def test_v1_status_single_and_search(v1):
    client, rsps = v1
    record = {
        "copy_path_id": COPY,
        "time": "2026-01-01T00:00:00.000Z",
        "source_project_id": SRC,
        "source_path": "a",
        "target_project_id": DST,
        "target_path": "a",
        "overwrite_newer": False,
        "delete_missing": False,
        "backup": False,
        "started": "2026-01-01T00:00:00.100Z",
        "finished": "2026-01-01T00:00:00.400Z",
        "exclude": [],
    }
    rsps.post(
        f"{HOST}/api/v1/copy_path_status",
        json={"event": "copy_path_status_response", "id": "1", "data": record},
    )
    st = client.copy_path_status(COPY)
    assert isinstance(st, CopyStatus) and st.ok and st.raw == record
    assert body_of(rsps.calls[0]) == {"copy_path_id": COPY}
    rsps.post(
        f"{HOST}/api/v1/copy_path_status",
        json={
            "event": "copy_path_status_response",
            "id": "1",
            "data": [record, dict(record, error="boom")],
        },
    )
    found = client.copy_path_status(
        target_project_id=DST, pending=False, failed=True, limit=10, offset=5
    )
    assert [s.ok for s in found] == [True, False] and found[1].error == "boom"
    assert body_of(rsps.calls[1]) == {
        "target_project_id": DST,
        "limit": 10,
        "offset": 5,
        "pending": False,
        "failed": True,
    }


def test_status_search_needs_a_project_and_v1():
    with responses.RequestsMock() as rsps:
        c = CoCalcClient(api_key=KEY, host=HOST, api="v1")
        with pytest.raises(BadInput, match="src_project_id"):
            c.copy_path_status()
        with pytest.raises(BadInput, match="not both"):
            c.copy_path_status(COPY, src_project_id=SRC)
        with pytest.raises(BadInput, match="at most 1000"):
            c.copy_path_status(src_project_id=SRC, limit=5000)
        with pytest.raises(BadInput, match="API v1"):
            CoCalcClient(api_key=KEY, host=HOST, api="v2").copy_path_status(src_project_id=SRC)
        assert len(rsps.calls) == 0


def test_typed_v1_methods(v1):
    client, rsps = v1
    rsps.post(
        f"{HOST}/api/v1/write_text_file_to_project",
        json={"event": "file_written_to_project", "id": "1"},
    )
    client.write_text_file_to_project(SRC, "d/f.txt", "hi")
    assert body_of(rsps.calls[-1]) == {"project_id": SRC, "path": "d/f.txt", "content": "hi"}

    rsps.post(
        f"{HOST}/api/v1/read_text_file_from_project",
        json={"event": "text_file_read_from_project", "id": "1", "content": "hi"},
    )
    assert client.read_text_file_from_project(SRC, "d/f.txt") == "hi"

    rsps.post(
        f"{HOST}/api/v1/project_exec",
        json={
            "event": "project_exec_output",
            "id": "1",
            "stdout": "x\n",
            "stderr": "",
            "exit_code": 0,
        },
    )
    out = client.project_exec(SRC, "ls", args=["-l"], timeout=20)
    assert (out.stdout, out.exit_code) == ("x\n", 0)
    assert body_of(rsps.calls[-1]) == {
        "project_id": SRC,
        "command": "ls",
        "args": ["-l"],
        "timeout": 20,
        "bash": False,
        "err_on_exit": True,
    }
    assert rsps.calls[-1].request.req_kwargs["timeout"][1] >= 50  # outlives the command

    rsps.post(
        f"{HOST}/api/v1/create_project",
        json={"event": "project_created", "id": "1", "project_id": DST},
    )
    assert client.create_project(title="T") == DST
    assert body_of(rsps.calls[-1]) == {"title": "T", "start": False}

    rsps.post(
        f"{HOST}/api/v1/user_auth",
        json={"event": "user_auth_token", "id": "1", "auth_token": "BQokikJOvBiI2HlWgH4olfQ2"},
    )
    token = client.user_auth(SRC, "pw")
    assert token == "BQokikJOvBiI2HlWgH4olfQ2" and isinstance(token, AuthToken)
    assert "BQok" not in repr(token)

    rsps.post(
        f"{HOST}/api/v1/query",
        json={
            "event": "query",
            "id": "1",
            "query": {"projects": [{"project_id": DST, "title": "T", "description": ""}]},
        },
    )
    assert client.projects() == [{"project_id": DST, "title": "T", "description": ""}]
    assert body_of(rsps.calls[-1]) == {
        "query": {"projects": [{"project_id": None, "title": None, "description": None}]}
    }

    rsps.post(
        f"{HOST}/api/v1/user_search",
        json={"event": "user_search_results", "id": "1", "results": []},
    )
    assert client.call("user_search", query="bob")["results"] == []
    assert body_of(rsps.calls[-1]) == {"query": "bob"}


def test_typed_v2_methods(v2):
    client, rsps = v2
    rsps.post(f"{HOST}/api/v2/projects/create", json={"project_id": DST})
    assert client.create_project(title="T") == DST
    rsps.post(f"{HOST}/api/v2/projects/write-text-file", json={"status": "ok"})
    client.write_text_file_to_project(SRC, "f.txt", "x")
    rsps.post(f"{HOST}/api/v2/exec", json={"stdout": "", "stderr": "", "exit_code": 0})
    assert client.project_exec(SRC, "true").exit_code == 0
    rsps.post(f"{HOST}/api/v2/user-query", json={"query": {"projects": []}})
    assert client.projects() == []
    rsps.post(f"{HOST}/api/v2/projects/start", json={"status": "ok"})
    assert client.call("projects/start", project_id=SRC) == {"status": "ok"}
    with pytest.raises(BadInput, match=r"not in CoCalc's API v2.*API v1 or conat") as info:
        client.user_auth(SRC)
    assert info.value.endpoint == "user_auth"
    with pytest.raises(BadInput, match=r"not in CoCalc's API v2.*api='auto'"):
        client.read_text_file_from_project(SRC, "f.txt")
    assert len(rsps.calls) == 5  # nothing sent for the two refused calls


def test_auto_detects_v2_once():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v2/customize", json={"site_name": "CoCalc"})
        rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"copy_id": COPY})
        c = CoCalcClient(api_key=KEY, host=HOST)
        assert c.api == "auto"
        c.copy_path_between_projects(SRC, "a", DST)
        c.copy_path_between_projects(SRC, "b", DST)
        assert c.api == "v2"
        urls = [call.request.url for call in rsps.calls]
        assert urls.count(f"{HOST}/api/v2/customize") == 1


def test_auto_detects_v1_on_an_old_server():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v2/customize", status=404, body="<html>404 Not Found</html>")
        rsps.post(
            f"{HOST}/api/v1/ping", json={"event": "pong", "id": "1", "now": "2026-01-01T00:00:00Z"}
        )
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            json={"event": "copy_path_between_projects_response", "id": "x", "copy_path_id": COPY},
        )
        c = CoCalcClient(api_key=KEY, host=HOST)
        assert c.copy_path_between_projects(SRC, "a", DST).copy_path_id == COPY
        assert c.api == "v1"


def test_bad_input_raises_before_any_request(v1):
    client, rsps = v1
    cases = [
        lambda: client.copy_path_between_projects("not-a-uuid", "a", DST),
        lambda: client.copy_path_between_projects(SRC, "", DST),
        lambda: client.copy_path_between_projects(SRC, "/etc/passwd", DST),
        lambda: client.copy_path_between_projects(SRC, "a\x00b", DST),
        lambda: client.copy_path_between_projects(SRC, "../x", DST),
        lambda: client.copy_path_between_projects(SRC, "a", DST, overwrite_newer="false"),
        lambda: client.copy_path_between_projects(SRC, "a", DST, timeout=-1),
        lambda: client.copy_path_between_projects(SRC, "a", DST, exclude=[""]),
        lambda: client.copy_path_between_projects(SRC, "a", DST, scheduled="tomorrow"),
        lambda: client.copy_path_between_projects(
            SRC, "a", DST, scheduled="2030-01-01", wait_until_done=True
        ),
        lambda: client.write_text_file_to_project(SRC, "a", b"bytes"),
        lambda: client.query({}),
        lambda: client.call("../admin"),
    ]
    for case in cases:
        with pytest.raises(BadInput):
            case()
    assert len(rsps.calls) == 0


def test_a_single_exclude_string_is_one_pattern(v1):
    client, rsps = v1
    rsps.post(
        f"{HOST}/api/v1/copy_path_between_projects",
        json={"event": "copy_path_between_projects_response", "id": "x", "copy_path_id": COPY},
    )
    client.copy_path_between_projects(SRC, "a", DST, exclude="*.log")
    assert body_of(rsps.calls[0])["exclude"] == ["*.log"]
