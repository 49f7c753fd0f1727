"""The client's conat generation, checked byte for byte against PROTOCOL.md section 5 with mocked
HTTP (responses): request bodies, results, the error texts and what they become, the bridge
timeout, blocking copies run in the background, and routing with api="auto"."""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests
import responses

from cocalc_widgets import (
    AuthenticationError,
    BadInput,
    CoCalcClient,
    CoCalcError,
    CoCalcTimeout,
    CopyFailed,
    CopyKeyRefused,
    CopyNotFound,
    CopyRefused,
    FileEntry,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    ServerError,
)

HOST = "https://cocalc.example"
KEY = "sk-TestKeyTestKeyTestKey1"
ACCOUNT = "3f2b2c1a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
HUB = f"{HOST}/api/conat/hub"
PROJECT = f"{HOST}/api/conat/project"
TOKEN = "BQokikJOvBiI2HlWgH4olfQ2"
NEXT_404 = "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head></html>"


NULL = {"body": "null", "content_type": "application/json"}  # a method's result: JSON null


def suffixed(message: str, name: str, code: str = "undefined") -> dict:
    """A method's error as the hub bridge sends it (PROTOCOL.md section 5)."""
    subject = f"hub.account.{ACCOUNT}.api"
    return {"error": f"{message} - callHub: subject='{subject}', name='{name}', code='{code}' "}


def body_of(call) -> dict:
    return json.loads(call.request.body)


@pytest.fixture
def conat():
    with responses.RequestsMock() as rsps, CoCalcClient(api_key=KEY, host=HOST, api="conat") as c:
        yield c, rsps


def test_hub_call_is_exactly_what_the_contract_says(conat):
    client, rsps = conat
    rsps.post(HUB, json={"now": 1767225600000})
    pong = client.ping()
    call = rsps.calls[0]
    assert call.request.method == "POST"
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert call.request.headers["Content-Type"] == "application/json"
    assert body_of(call) == {"name": "system.ping", "args": []}
    assert pong.now is not None and pong.now.year == 2026 and pong.latency >= 0


def test_tokens_through_the_hub(conat):
    client, rsps = conat
    rsps.post(HUB, json=TOKEN)
    token = client.user_auth(ACCOUNT, "secret")
    assert token == TOKEN and TOKEN not in repr(token)
    assert body_of(rsps.calls[0]) == {
        "name": "system.generateUserAuthToken",
        "args": [{"user_account_id": ACCOUNT, "password": "secret"}],
    }
    client.user_auth(ACCOUNT)  # an admin's key needs no password: none is sent
    assert body_of(rsps.calls[1])["args"] == [{"user_account_id": ACCOUNT}]
    rsps.replace(responses.POST, HUB, **NULL)
    assert client.revoke_auth_token(TOKEN) is None
    assert body_of(rsps.calls[2]) == {"name": "system.revokeUserAuthToken", "args": [TOKEN]}
    url = f"{HOST}/auth/impersonate?auth_token={TOKEN}"
    rsps.replace(responses.POST, HUB, json={"token": TOKEN, "url": url})
    token, link = client.create_token("student@example.com")
    assert (token, link) == (TOKEN, url)
    assert body_of(rsps.calls[3]) == {"name": "org.createToken", "args": [{"user": "student@example.com"}]}
    shown = repr(client.create_token(ACCOUNT))
    assert TOKEN not in shown and "impersonate" in shown


def test_project_calls(conat):
    client, rsps = conat
    rsps.post(PROJECT, json="hello\n")
    assert client.read_text_file_from_project(SRC, "a/b.txt") == "hello\n"
    assert body_of(rsps.calls[0]) == {
        "project_id": SRC,
        "name": "system.readTextFileFromProject",
        "args": [{"path": "a/b.txt"}],
    }
    rsps.replace(responses.POST, PROJECT, **NULL)
    client.write_text_file_to_project(SRC, "a/c.txt", "x")
    assert body_of(rsps.calls[1]) == {
        "project_id": SRC,
        "name": "system.writeTextFileToProject",
        "args": [{"path": "a/c.txt", "content": "x"}],
    }
    listing = [  # CoCalc's order is the file system's; the client sorts by name
        {"name": "f.txt", "size": 12, "mtime": 1767225600},
        {"name": "l", "issymlink": True, "link_target": "f.txt", "size": 12, "mtime": 1767225600},
        {"name": "a", "isdir": True, "size": 2, "mtime": 1767225600.5},
    ]
    rsps.replace(responses.POST, PROJECT, json=listing)
    entries = client.list_files(SRC)
    assert body_of(rsps.calls[2]) == {
        "project_id": SRC,
        "name": "system.listing",
        "args": [{"path": "", "hidden": False}],
    }
    assert [type(e) for e in entries] == [FileEntry] * 3
    assert [(e.name, e.isdir, e.size, e.link_target) for e in entries] == [
        ("a", True, 2, None), ("f.txt", False, 12, None), ("l", False, 12, "f.txt")]
    assert entries[1].mtime is not None and entries[1].mtime.year == 2026
    client.list_files(SRC, "a/", hidden=True)
    assert body_of(rsps.calls[3])["args"] == [{"path": "a", "hidden": True}]
    rsps.replace(responses.POST, PROJECT, json={"stdout": "hi\n", "stderr": "", "exit_code": 0})
    out = client.project_exec(SRC, "echo", args=["hi"], timeout=20)
    assert (out.stdout, out.exit_code) == ("hi\n", 0)
    body = body_of(rsps.calls[4])
    assert body["name"] == "system.exec" and body["timeout"] == 25000  # the bridge outlasts exec
    assert body["args"] == [
        {"command": "echo", "args": ["hi"], "timeout": 20, "bash": False, "err_on_exit": True}
    ]


def test_projects_and_queries_through_the_hub(conat):
    client, rsps = conat
    rsps.post(HUB, json=DST)
    assert client.create_project(title="T", description="D") == DST
    assert body_of(rsps.calls[0]) == {
        "name": "projects.createProject",
        "args": [{"title": "T", "description": "D"}],
    }
    rows = [{"project_id": SRC, "title": "A", "description": ""}]
    rsps.replace(responses.POST, HUB, json={"projects": rows})
    assert client.projects() == rows
    assert body_of(rsps.calls[1]) == {
        "name": "db.userQuery",
        "args": [{"query": {"projects": [{"project_id": None, "title": None, "description": None}]}}],
    }


def test_call_hub_and_call_project_with_a_bridge_timeout(conat):
    client, rsps = conat
    rsps.post(HUB, json={"x": 1})
    assert client.call_hub("system.getNames", [ACCOUNT], timeout=2.5) == {"x": 1}
    assert body_of(rsps.calls[0]) == {"name": "system.getNames", "args": [[ACCOUNT]], "timeout": 2500}
    rsps.post(PROJECT, json=42)
    assert client.call_project(SRC, "system.version") == 42
    assert body_of(rsps.calls[1]) == {"project_id": SRC, "name": "system.version", "args": []}


@pytest.mark.parametrize(
    ("reply", "cls", "words"),
    [
        ({"error": "You must provide authentication via an API key."}, AuthenticationError, "refused the API key"),
        ({"error": "must be signed in and MUST provide an api key (cookies are not allowed)"}, AuthenticationError, "API key"),
        (suffixed("user must be signed in", "db.userQuery"), AuthenticationError, "API key"),
        (suffixed("user must be collaborator on source project", "db.userQuery"), PermissionDenied, "collaborator"),
        ({"error": "user must be a collaborator on the project"}, PermissionDenied, "collaborator"),
        (suffixed("Error: unknown function 'db.nope'", "db.userQuery"), NotFound, "unknown function"),
        (suffixed("timeout", "db.userQuery", "408"), CoCalcTimeout, "timed out after 15 s"),
        (suffixed("request -- no subscribers matching 'x'", "db.userQuery", "503"), ServerError, "not running"),
        ({"error": 42}, CoCalcError, "not a text"),
        ({"error": None}, CoCalcError, "not a text"),
        ({"error": {"a": 1}}, CoCalcError, "not a text"),
    ],
)
def test_conat_errors_are_typed_by_their_message(conat, reply, cls, words):
    client, rsps = conat
    rsps.post(HUB, json=reply)
    with pytest.raises(cls, match=words) as info:
        client.projects()
    err = info.value
    assert type(err) is cls or cls is CoCalcError
    assert err.endpoint == "query" and err.route == "conat db.userQuery" and err.status == 200
    assert KEY not in str(err) and KEY not in repr(vars(err))


def test_wrong_password_and_the_ban_are_authentication_errors_naming_30_s(conat):
    client, rsps = conat
    rsps.post(HUB, json=suffixed("incorrect password", "system.generateUserAuthToken"))
    with pytest.raises(AuthenticationError, match=r"Wrong password.*30 s") as info:
        client.user_auth(ACCOUNT, "wrong")
    assert "incorrect password" in str(info.value)
    ban = "banned -- please wait at least #{BAN_TIME_MS/1000}s before trying again"
    rsps.replace(responses.POST, HUB, json=suffixed(ban, "system.generateUserAuthToken"))
    with pytest.raises(AuthenticationError, match="30 s after a wrong password"):
        client.user_auth(ACCOUNT, "right")


@pytest.mark.parametrize(
    "result",
    ["not a list", [{"nameless": 1}], {"name": "x"}, None],
)
def test_a_result_of_the_wrong_type_is_a_clear_error(conat, result):
    client, rsps = conat
    rsps.post(PROJECT, body=json.dumps(result), content_type="application/json")
    with pytest.raises(CoCalcError, match="unexpected reply") as info:
        client.list_files(SRC)
    assert info.value.endpoint == "list_files"


def test_html_or_non_json_replies_are_server_errors(conat):
    client, rsps = conat
    rsps.post(HUB, body="<html><title>502 Bad Gateway</title></html>", status=502)
    client._transport.retry = type(client._transport.retry)(retries=1, backoff=0.001, deadline=2)
    with pytest.raises(ServerError, match="502 Bad Gateway"):
        client.ping()
    rsps.replace(responses.POST, HUB, body="<html>sign in</html>", status=200)
    with pytest.raises(ServerError, match="not JSON"):
        client.ping()
    with pytest.raises(ServerError):  # a write: also OutcomeUnknown, never a crash
        client.create_project(title="x")


def test_bad_input_sends_nothing(conat):
    client, rsps = conat
    cases = [
        lambda: client.user_auth("not-a-uuid"),
        lambda: client.user_auth(ACCOUNT, password=None),
        lambda: client.revoke_auth_token(""),
        lambda: client.revoke_auth_token("a b"),
        lambda: client.create_token(""),
        lambda: client.create_token(None),
        lambda: client.list_files(SRC, "../x"),
        lambda: client.list_files(SRC, hidden="yes"),
        lambda: client.list_files("x"),
        lambda: client.call_hub("no dots"),
        lambda: client.call_hub("system.ping", timeout=-1),
        lambda: client.call_project("x", "system.ping"),
        lambda: client.copy_path_between_projects(SRC, "a", DST, scheduled="2030-01-01"),
        lambda: client.copy_path_status(src_project_id=SRC),
        lambda: client.call("projects/start"),
    ]
    for case in cases:
        with pytest.raises(BadInput):
            case()
    assert len(rsps.calls) == 0


# -- copies ------------------------------------------------------------------------------------
def test_a_conat_copy_runs_in_the_background_with_the_wait_budget_as_bridge_timeout(conat):
    client, rsps = conat
    client.copy_wait = 90
    rsps.post(HUB, **NULL)
    job = client.copy_path_between_projects(SRC, "a/", DST, "b/", exclude=["*.tmp"], bwlimit="1M")
    assert job.copy_path_id is None and job.api == "conat"
    status = job.wait(timeout=10)
    assert status.ok and job.done and job.ok and job.error is None
    assert (status.source_path, status.target_path) == ("a/", "b/")
    assert body_of(rsps.calls[0]) == {
        "name": "projects.copyPathBetweenProjects",
        "args": [
            {
                "src_project_id": SRC,
                "src_path": "a/",
                "target_project_id": DST,
                "target_path": "b/",
                "overwrite_newer": False,
                "delete_missing": False,
                "backup": False,
                "bwlimit": "1M",
                "exclude": ["*.tmp"],
            }
        ],
        "timeout": 90000,
    }
    assert len(rsps.calls) == 1 and job.polls == 0  # watching it cost no request


def test_a_bridge_timeout_on_a_copy_is_an_unknown_outcome_never_a_failure_or_a_resend(conat):
    client, rsps = conat
    rsps.post(HUB, json=suffixed("timeout", "projects.copyPathBetweenProjects", "408"))
    job = client.copy_path_between_projects(SRC, "a", DST)
    with pytest.raises(OutcomeUnknown, match=r"bridge.*timeout") as info:
        job.wait(timeout=10)
    assert info.value.endpoint == "copy_path_between_projects"
    with pytest.raises(OutcomeUnknown):
        job.ok  # noqa: B018 - the property asks
    assert len(rsps.calls) == 1


def test_a_lost_reply_to_a_copy_is_never_resent(conat):
    client, rsps = conat
    rsps.post(HUB, body=requests.ConnectionError("Connection aborted."))
    job = client.copy_path_between_projects(SRC, "a", DST)
    with pytest.raises(OutcomeUnknown, match="not re-sent"):
        job.wait(timeout=10)
    assert len(rsps.calls) == 1


def test_a_refused_or_failed_copy_is_failed_with_cocalcs_text(conat):
    client, rsps = conat
    rsps.post(HUB, json=suffixed("user must be collaborator on target project", "projects.copyPathBetweenProjects"))
    job = client.copy_path_between_projects(SRC, "a", DST)
    with pytest.raises(CopyFailed, match="collaborator on target project"):
        job.wait(timeout=10)
    assert job.error == "user must be collaborator on target project" and not job.ok


@pytest.mark.parametrize(
    ("text", "cls", "also"),
    [
        ("user must be collaborator on target project", CopyRefused, PermissionDenied),
        ("ENOENT: no such file or directory, stat '/p/nope.txt'", CopyNotFound, NotFound),
        ("must be signed in and MUST provide an api key (cookies are not allowed)", CopyKeyRefused, AuthenticationError),
    ],
)
def test_a_copy_error_from_waiting_is_typed_by_cocalcs_text_and_names_the_call_made(conat, text, cls, also):
    """The real server (tests/real): a conat copy's refusal, missing source or refused key comes
    when the copy ends; wait() raises the class CoCalc's text says, named after the copy that was
    called, never after ``copy_path_status`` (no status was asked: conat has none)."""
    client, rsps = conat
    rsps.post(HUB, json={"error": f"Error: {text}"})
    job = client.copy_path_between_projects(SRC, "a", DST)
    with pytest.raises(cls) as info:
        job.wait(timeout=10)
    assert isinstance(info.value, CopyFailed) and isinstance(info.value, also)
    assert info.value.endpoint == "copy_path_between_projects" and job.polls == 0
    assert "[copy_path_between_projects via conat]" in str(info.value) and "copy_path_status" not in str(info.value)
    assert isinstance(job.failure(), cls) and len(rsps.calls) == 1


def test_a_wait_that_runs_out_on_a_conat_copy_names_the_copy_not_a_status_call(conat):
    import threading

    client, rsps = conat
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return (200, {}, "null")

    rsps.add_callback(responses.POST, HUB, callback=slow, content_type="application/json")
    job = client.copy_path_between_projects(SRC, "a", DST)
    try:
        with pytest.raises(CoCalcTimeout, match="goes on in CoCalc") as info:
            job.wait(timeout=0.2)
        assert info.value.endpoint == "copy_path_between_projects" and info.value.route == "conat"
    finally:
        release.set()
    assert job.wait(timeout=10).ok


def test_a_failed_conat_copy_in_a_hand_out_carries_its_typed_error(conat):
    from cocalc_widgets import copy_to_many, wait_all

    client, rsps = conat
    refused = {"error": "Error: user must be collaborator on target project"}
    rsps.add_callback(
        responses.POST,
        HUB,
        callback=lambda r: (200, {}, json.dumps(refused if DST in r.body.decode() else None)),
        content_type="application/json",
    )
    other = "5c4b3a29-1807-4f6e-9d5c-4b3a29180706"
    results = copy_to_many(client, SRC, "a", [other, DST], journal=False, progress=False)
    wait_all(client, results, timeout=10, progress=False)
    assert [r.state for r in results] == ["done", "failed"]
    assert results[0].error is None
    assert isinstance(results[1].error, CopyRefused) and isinstance(results[1].error, PermissionDenied)
    assert results[1].reason == "user must be collaborator on target project"


def test_wait_until_done_blocks_and_raises_at_once(conat):
    client, rsps = conat
    rsps.post(HUB, json=suffixed("rsync: link_stat failed", "projects.copyPathBetweenProjects"))
    with pytest.raises(CopyFailed, match="link_stat"):
        client.copy_path_between_projects(SRC, "a", DST, wait_until_done=True)
    rsps.replace(responses.POST, HUB, **NULL)
    job = client.copy_path_between_projects(SRC, "a", DST, wait_until_done=True)
    assert job.last_status is not None and job.last_status.ok


def test_copies_in_flight_are_bounded_by_the_pool(conat):
    import threading
    import time

    client, rsps = conat
    client._settings.workers = 3
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def slow(request):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return (200, {}, "null")

    rsps.add_callback(responses.POST, HUB, callback=slow)
    jobs = [client.copy_path_between_projects(SRC, "a", DST, f"t{i}") for i in range(12)]
    assert all(job.wait(timeout=10).ok for job in jobs)
    assert state["most"] == 3 and len(rsps.calls) == 12


# -- routing with api="auto" -------------------------------------------------------------------
def paths(rsps) -> list[str]:
    out = []
    for call in rsps.calls:
        path = call.request.url.removeprefix(HOST)
        if path.startswith("/api/conat"):
            path += " " + body_of(call)["name"]
        out.append(path)
    return out


def test_auto_on_a_current_server_asks_each_generation_once_and_never_with_a_write():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{HOST}/api/v2/customize", json={"site_name": "CoCalc"})
        rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"copy_id": "65cd2079-098d-4147-bb54-12d44cebb8cb"})
        rsps.post(re.compile(f"{HOST}/api/v1/.*"), status=404, body=NEXT_404)

        def hub(request):
            name = json.loads(request.body)["name"]
            return (200, {}, json.dumps({"system.ping": {"now": 1}, "system.generateUserAuthToken": TOKEN}[name]))

        rsps.add_callback(responses.POST, HUB, callback=hub)
        client = CoCalcClient(api_key=KEY, host=HOST)
        client.copy_path_between_projects(SRC, "a", DST)
        assert client.user_auth(ACCOUNT) == TOKEN
        assert client.user_auth(ACCOUNT) == TOKEN
        client.ping()
        assert client.api == "v2" and client.api_versions == ("conat", "v2")
        assert paths(rsps) == [
            "/api/v2/customize",  # probe v2 (read-only)
            "/api/v2/projects/copy-path",
            "/api/v1/ping",  # probe v1 for user_auth: not there
            "/api/conat/hub system.ping",  # probe conat (read-only)
            "/api/conat/hub system.generateUserAuthToken",
            "/api/conat/hub system.generateUserAuthToken",
            "/api/conat/hub system.ping",
        ]


def test_auto_on_a_conat_only_server_copies_through_the_bridge():
    with responses.RequestsMock() as rsps:
        rsps.post(re.compile(f"{HOST}/api/v[12]/.*"), status=404, body=NEXT_404)
        rsps.post(HUB, **NULL)
        client = CoCalcClient(api_key=KEY, host=HOST)
        job = client.copy_path_between_projects(SRC, "a", DST)
        assert job.wait(timeout=10).ok and client.api == "conat"
        assert [p.split(" ")[0] for p in paths(rsps)] == [
            "/api/v2/customize",
            "/api/v1/ping",
            "/api/conat/hub",
            "/api/conat/hub",
        ]


def test_auto_names_errors_after_the_method_called_not_the_probe():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v1/ping", status=404, body=NEXT_404)
        rsps.post(HUB, json={"error": "must be signed in and MUST provide an api key (cookies are not allowed)"})
        client = CoCalcClient(api_key=KEY, host=HOST)
        with pytest.raises(AuthenticationError) as info:
            client.user_auth(ACCOUNT)
        assert info.value.endpoint == "user_auth" and "ping" not in str(info.value).split("via")[0]
        # The generation that answered, not the internal probe's route (issue 18).
        assert info.value.route == "conat" and "system.ping" not in str(info.value)


def test_auto_picks_the_generation_that_has_the_options():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v2/customize", json={"site_name": "CoCalc"})
        rsps.post(f"{HOST}/api/v1/ping", status=404, body=NEXT_404)
        rsps.post(HUB, **NULL)
        client = CoCalcClient(api_key=KEY, host=HOST)
        job = client.copy_path_between_projects(SRC, "a", DST, exclude="*.log")
        assert job.api == "conat" and job.wait(timeout=10).ok
        assert body_of(rsps.calls[-1])["args"][0]["exclude"] == ["*.log"]
        with pytest.raises(BadInput, match=r"scheduled= is not supported by CoCalc's API v2 or conat, which this server speaks \(CoCalc has it in API v1\)"):
            client.copy_path_between_projects(SRC, "a", DST, scheduled="2030-01-01T00:00:00")
