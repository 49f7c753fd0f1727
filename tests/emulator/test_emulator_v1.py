"""API v1 of the emulator over real HTTP: envelopes, auth, dispatch errors, simple endpoints."""

from __future__ import annotations

import base64
import re
import uuid

import requests

UNEXPECTED = "got an unexpected argument"


def test_ping_echoes_id_and_makes_one_up(api):
    r = api.v1("ping", {"id": "my-id"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["event"] == "pong" and body["id"] == "my-id"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["now"])
    made_up = api.v1("ping").json()["id"]
    assert uuid.UUID(made_up)


def test_auth_missing_wrong_and_schemes(api, emulator):
    url = f"{emulator.url}/api/v1/ping"
    r = requests.post(url, json={})
    assert r.status_code == 400
    assert r.json() == {"error": "You must provide authentication via an API key."}
    r = requests.post(url, json={}, auth=("sk-wrong", ""))
    assert r.status_code == 400
    assert r.json() == {"error": "No account found. Is your API key wrong?"}
    r = requests.post(url, json={}, headers={"Authorization": "Token abc"})
    assert r.status_code == 400 and r.json() == {"error": "Unknown authorization type 'Token'"}
    r = requests.post(url, json={}, headers={"Authorization": f"Bearer {emulator.api_key}"})
    assert r.status_code == 200 and r.json()["event"] == "pong"
    basic = base64.b64encode(f"{emulator.api_key}:".encode()).decode()
    r = requests.post(url, json={}, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.json()["event"] == "pong"


def test_unknown_endpoint_and_not_api(api):
    r = api.v1("no_such_thing")
    assert r.status_code == 400 and r.json() == {"error": "unknown endpoint 'no_such_thing'"}
    r = api.v1("sign_in")
    assert r.status_code == 400
    assert r.json() == {"error": "endpoint 'sign_in' is not part of the HTTP API"}
    r = api.v1("user_search", {"query": "x"})
    assert r.status_code == 400
    assert r.json() == {"error": "unknown message event type 'user_search'"}


def test_unexpected_and_missing_fields(api, emulator):
    r = api.v1("ping", {"bogus": 1})
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(r.json()) == {"error"}
    assert err.startswith("invalid parameters 'Error: misc.defaults -- TypeError: ")
    assert f"{UNEXPECTED} 'bogus'" in err
    # copy_path_status and copy_path_delete do not declare id
    for endpoint in ("copy_path_status", "copy_path_delete"):
        r = api.v1(endpoint, {"id": str(uuid.uuid4()), "copy_path_id": str(uuid.uuid4())})
        assert r.status_code == 400 and f"{UNEXPECTED} 'id'" in r.json()["error"]
    r = api.v1("write_text_file_to_project", {"project_id": emulator.pa, "path": "x"})
    assert r.status_code == 400
    assert "property 'content' must be specified" in r.json()["error"]
    r = api.v1("ping", {"event": "ping"})
    assert r.status_code == 400 and "must not define 'event'" in r.json()["error"]


def test_malformed_and_non_object_json(api, emulator):
    url = f"{emulator.url}/api/v1/ping"
    headers = {"Content-Type": "application/json"}
    r = requests.post(url, data=b"{not json", headers=headers, auth=api.auth)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json()) == {"error"}
    r = requests.post(url, data=b"[1, 2]", headers=headers, auth=api.auth)
    assert r.status_code == 400 and "invalid parameters" in r.json()["error"]
    r = requests.post(url, data=b"\xff\xfe", headers=headers, auth=api.auth)
    assert r.status_code == 400 and set(r.json()) == {"error"}


def test_form_body_and_post_only(api, emulator):
    r = requests.post(f"{emulator.url}/api/v1/ping", data={"id": "form-id"}, auth=api.auth)
    assert r.json() == {"event": "pong", "id": "form-id", "now": r.json()["now"]}
    r = requests.post(f"{emulator.url}/api/v1/write_text_file_to_project", auth=api.auth,
                      data={"project_id": emulator.pa, "path": "f/form.txt", "content": "hi"})
    assert r.json()["event"] == "file_written_to_project"
    assert (emulator.project_path(emulator.pa) / "f/form.txt").read_text() == "hi"
    r = requests.get(f"{emulator.url}/api/v1/ping", auth=api.auth)
    assert r.status_code == 404


def test_write_and_read_text_files(api, emulator):
    r = api.v1("write_text_file_to_project",
               {"id": "w1", "project_id": emulator.pa, "path": "a/b/c.txt", "content": "one"})
    assert r.json() == {"event": "file_written_to_project", "id": "w1"}
    api.v1("write_text_file_to_project",
           {"project_id": emulator.pa, "path": "a/b/c.txt", "content": "two"})
    r = api.v1("read_text_file_from_project", {"id": "r1", "project_id": emulator.pa,
                                               "path": "a/b/c.txt"})
    assert r.json() == {"event": "text_file_read_from_project", "id": "r1", "content": "two"}
    r = api.v1("read_text_file_from_project", {"project_id": emulator.pa, "path": "missing.txt"})
    body = r.json()
    assert r.status_code == 200 and body["event"] == "error" and "ENOENT" in body["error"]
    unknown = str(uuid.uuid4())
    r = api.v1("read_text_file_from_project", {"project_id": unknown, "path": "x"})
    assert r.json()["error"] == (
        f"User {emulator.account_id} does not have read access to project {unknown}"
    )
    r = api.v1("write_text_file_to_project", {"project_id": unknown, "path": "x", "content": ""})
    assert "does not have write access" in r.json()["error"]


def test_batch_read(api, emulator):
    api.v1("write_text_file_to_project", {"project_id": emulator.pa, "path": "1.txt",
                                          "content": "A"})
    api.v1("write_text_file_to_project", {"project_id": emulator.pb, "path": "2.txt",
                                          "content": "B"})
    r = api.v1("read_text_file_from_project", {
        "project_id": [emulator.pa, emulator.pb, emulator.pb], "path": ["1.txt", "2.txt", "no"]})
    content = r.json()["content"]
    assert {"project_id": emulator.pa, "path": "1.txt", "content": "A"} in content
    assert {"project_id": emulator.pb, "path": "2.txt", "content": "B"} in content
    assert any("error" in item and item["path"] == "no" for item in content)
    r = api.v1("read_text_file_from_project", {"project_id": [emulator.pa], "path": "1.txt"})
    assert r.json()["error"] == (
        "if project_id is an array, then path must be an array of the same length"
    )
    r = api.v1("read_text_file_from_project", {"project_id": emulator.pa, "path": ["1.txt"]})
    assert r.json()["error"] == "project_id must be an array"


def test_create_project(api, emulator):
    r = api.v1("create_project", {"id": "c1", "title": "New one", "description": "d"})
    body = r.json()
    assert body["event"] == "project_created" and body["id"] == "c1"
    assert emulator.project_path(body["project_id"]).is_dir()
    assert emulator.state.projects[body["project_id"]].title == "New one"


def test_user_auth_token_and_ban(api, emulator):
    r = api.v1("user_auth", {"account_id": emulator.account_id, "password": emulator.password})
    body = r.json()
    assert body["event"] == "user_auth_token" and len(body["auth_token"]) == 24
    assert emulator.state.check_token(body["auth_token"])
    r = api.v1("user_auth", {"account_id": emulator.account_id, "password": ""})
    assert r.json()["event"] == "user_auth_token"
    r = api.v1("user_auth", {"account_id": emulator.account_id, "password": "wrong"})
    assert r.status_code == 200 and r.json()["event"] == "error"
    assert "banned -- please wait at least 60s before trying again" in r.json()["error"]
    r = api.v1("user_auth", {"account_id": emulator.account_id, "password": emulator.password})
    assert r.json()["error"] == "banned -- please wait at least 60s before trying again"


def test_query_list_single_and_set(api, emulator):
    q = {"projects": [{"project_id": None, "title": None, "description": None}]}
    r = api.v1("query", {"id": "q1", "query": q})
    body = r.json()
    assert body["event"] == "query" and body["id"] == "q1" and body["multi_response"] is False
    rows = body["query"]["projects"]
    assert {row["title"]: row["project_id"] for row in rows}["Project B"] == emulator.pb
    assert set(rows[0]) == {"project_id", "title", "description"}
    r = api.v1("query", {"query": {"projects_all": [{"project_id": None, "title": "Project C"}]}})
    assert r.json()["query"]["projects_all"] == [{"project_id": emulator.pc, "title": "Project C"}]
    r = api.v1("query", {"query": {"projects": {"project_id": emulator.pa, "title": None}}})
    assert r.json()["query"] == {"projects": {"project_id": emulator.pa, "title": "Project A"}}
    r = api.v1("query", {"query": {"projects": {"project_id": emulator.pa, "title": "Renamed"}}})
    assert r.json()["query"] == {} and r.json()["event"] == "query"
    assert emulator.state.projects[emulator.pa].title == "Renamed"
    r = api.v1("query", {"query": "nonsense"})
    assert r.json() == {"event": "error", "id": r.json()["id"], "error": "malformed query"}
    r = api.v1("query", {"query": q, "multi_response": True})
    assert r.status_code == 400


def test_project_exec_refused_unless_allowed(api, emulator):
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "echo hi"})
    body = r.json()
    assert r.status_code == 200 and body["event"] == "error"
    assert "--allow-exec" in body["error"]


def test_project_exec_allowed(api, emulator):
    emulator.allow_exec = True
    (emulator.project_path(emulator.pa) / "sub").mkdir()
    r = api.v1("project_exec", {"id": "e1", "project_id": emulator.pa, "command": "pwd",
                                "path": "sub"})
    body = r.json()
    assert body["event"] == "project_exec_output" and body["id"] == "e1"
    assert body["stdout"].strip() == str(emulator.project_path(emulator.pa) / "sub")
    assert body["exit_code"] == 0
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "echo",
                                "args": ["xyz", "abc"], "max_output": 3})
    assert r.json()["stdout"] == "xyz (truncated at 3 characters)"
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "exit 3", "bash": True})
    assert r.json()["event"] == "error"
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "exit 3", "bash": True,
                                "err_on_exit": False})
    assert r.json()["exit_code"] == 3
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "sleep 5", "timeout": 0.3})
    assert r.json()["event"] == "error" and "killed command" in r.json()["error"]
    r = api.v1("project_exec", {"project_id": emulator.pa, "command": "pwd", "path": "../.."})
    assert r.json()["event"] == "error"


def test_non_api_paths_fall_through_to_404(api, emulator):
    r = requests.get(f"{emulator.url}/definitely/not/here")
    assert r.status_code == 404


def test_python_api_and_seed_demo_is_idempotent(emulator):
    first = emulator.seed_demo()
    assert set(first) == {"Instructor", *(f"Student {i}" for i in range(1, 6))}
    assert emulator.seed_demo() == first
    assert (emulator.project_path(first["Instructor"]) / "handout/README.md").exists()
    assert emulator.url.startswith("http://127.0.0.1:") and emulator.api_key.startswith("sk-")
    assert uuid.UUID(emulator.account_id) and emulator.password
