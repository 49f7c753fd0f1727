"""API v2 of the emulator, and serving only v1 or only v2."""

from __future__ import annotations

import time
import uuid

import requests


def test_copy_path_waits_by_default(api, emulator):
    src, dst = emulator.project_path(emulator.pa), emulator.project_path(emulator.pb)
    (src / "n.txt").write_text("v2")
    emulator.copy_delay = 0.2
    r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "n.txt",
                                      "target_project_id": emulator.pb, "target_path": "m.txt"})
    # CoCalc's route: a waited copy answers copy_id "" (an id only for a copy not waited for).
    assert r.status_code == 200 and r.json() == {"copy_id": ""}
    assert (dst / "m.txt").read_text() == "v2"


def test_copy_path_without_wait_then_status(api, emulator):
    src, dst = emulator.project_path(emulator.pa), emulator.project_path(emulator.pb)
    (src / "w.txt").write_text("later")
    emulator.copy_delay = 0.3
    r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "w.txt",
                                      "target_project_id": emulator.pb, "wait_until_done": False})
    copy_id = r.json()["copy_id"]
    assert uuid.UUID(copy_id) and not (dst / "w.txt").exists()
    assert api.v2("projects/copy-path-status", {"copy_id": copy_id}).json()["finished"] is None
    deadline = time.time() + 5
    while not api.v2("projects/copy-path-status", {"copy_id": copy_id}).json()["finished"]:
        assert time.time() < deadline
        time.sleep(0.02)
    assert (dst / "w.txt").read_text() == "later"


def test_copy_error_vs_request_error(api, emulator):
    r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "nope",
                                      "target_project_id": emulator.pb, "wait_until_done": False})
    copy_id = r.json()["copy_id"]
    deadline = time.time() + 5
    while True:
        status = api.v2("projects/copy-path-status", {"copy_id": copy_id}).json()
        if status["finished"]:
            break
        assert time.time() < deadline
        time.sleep(0.02)
    assert "No such file" in status["copy_error"] and "error" not in status
    r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "nope",
                                      "target_project_id": emulator.pb})
    assert r.status_code == 200 and "No such file" in r.json()["error"]


def test_v2_errors_are_http_200(api, emulator):
    base = {"src_project_id": emulator.pa, "path": "x", "target_project_id": emulator.pb}
    cases = [
        ({**base, "path": None}, "path must be specified"),
        ({**base, "src_project_id": "bad"}, "src_project_id must be a valid uuid"),
        ({**base, "target_project_id": "bad"}, "target_project_id must be a valid uuid"),
        ({**base, "target_project_id": str(uuid.uuid4())},
         "must be a collaborator on target project"),  # CoCalc's texts: no "Error: "
    ]
    for body, error in cases:
        r = api.v2("projects/copy-path", {k: v for k, v in body.items() if v is not None})
        assert r.status_code == 200 and r.json() == {"error": error}
    r = api.v2("projects/copy-path", base, auth=("wrong", ""))
    assert r.json() == {"error": "must be signed in"}
    r = api.v2("projects/copy-path-status", {"copy_id": "x"})
    assert r.json() == {"error": "copy_id must be a valid uuid"}
    r = api.v2("projects/copy-path-status", {"copy_id": str(uuid.uuid4())})
    assert r.json() == {"error": "copy_id not found"}
    r = requests.get(f"{emulator.url}/api/v2/projects/copy-path", auth=api.auth)
    assert r.status_code == 404


def test_v2_create_project(api, emulator):
    r = api.v2("projects/create", {"title": "Made by v2"})
    project_id = r.json()["project_id"]
    assert emulator.state.projects[project_id].title == "Made by v2"
    assert api.v2("projects/create", {}, auth=None).json() == {"error": "user must be signed in"}


def test_v2_user_query_without_an_account_is_anonymous(api):
    # CoCalc's user-query route runs a query without an account anonymously (the real server,
    # with no key and with a wrong one, answers these texts)
    get = {"query": {"projects": [{"project_id": None, "title": None}]}}
    for auth in (None, ("sk-" + "x" * 22, "")):
        assert api.v2("user-query", get, auth=auth).json() == {
            "error": "FATAL: anonymous get queries not allowed for table 'projects'"
        }
        set_query = {"query": {"accounts": {"first_name": "x"}}}
        assert api.v2("user-query", set_query, auth=auth).json() == {
            "error": "FATAL: no anonymous set queries"
        }


def test_v2_only_server_like_cocalc_com(api, emulator):
    emulator.api_versions = ("v2",)
    r = api.v1("ping")
    assert r.status_code == 404 and "text/html" in r.headers["Content-Type"]
    assert api.v2("projects/create", {"title": "t"}).json()["project_id"]


def test_v1_only_old_server(api, emulator):
    emulator.api_versions = ("v1",)
    r = api.v2("projects/copy-path-status", {"copy_id": str(uuid.uuid4())})
    assert r.status_code == 404
    assert api.v1("ping").json()["event"] == "pong"


def test_unknown_v2_path_is_404(api):
    assert api.v2("no/such/thing").status_code == 404


def test_v2_user_query_write_text_file_and_exec(api, emulator):
    r = api.v2("user-query", {"query": {"projects": [{"project_id": None, "title": None}]}})
    titles = {p["title"]: p["project_id"] for p in r.json()["query"]["projects"]}
    assert titles["Project A"] == emulator.pa
    assert api.v2("user-query", {"query": "x"}).json() == {"error": "malformed query"}
    r = api.v2("projects/write-text-file", {"project_id": emulator.pa, "path": "v2/w.txt",
                                            "content": "hi"})
    assert r.json() == {"status": "ok"}
    assert (emulator.project_path(emulator.pa) / "v2/w.txt").read_text() == "hi"
    r = api.v2("projects/write-text-file", {"project_id": emulator.pa, "path": "../x",
                                            "content": "no"})
    assert "error" in r.json()
    r = api.v2("exec", {"project_id": emulator.pa, "command": "echo hi"})
    assert "--allow-exec" in r.json()["error"]
    emulator.allow_exec = True
    r = api.v2("exec", {"project_id": emulator.pa, "command": "echo", "args": ["hi"]})
    assert r.json() == {"stdout": "hi\n", "stderr": "", "exit_code": 0, "type": "blocking"}
