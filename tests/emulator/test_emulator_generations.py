"""One operation, every API generation that has it: v1, v2 and conat share one implementation,
so the same call gives the same result on disk, in the state and in its error texts."""

from __future__ import annotations

import uuid

import requests


def test_write_then_read_a_file(api, emulator):
    root = emulator.project_path(emulator.pa)
    r = api.v1("write_text_file_to_project",
               {"project_id": emulator.pa, "path": "by/v1.txt", "content": "one"})
    assert r.json()["event"] == "file_written_to_project"
    r = api.v2("projects/write-text-file",
               {"project_id": emulator.pa, "path": "by/v2.txt", "content": "two"})
    assert r.json() == {"status": "ok"}
    assert api.project(emulator.pa, "system.writeTextFileToProject",
                       {"path": "by/conat.txt", "content": "three"}) is None
    assert {p.name: p.read_text() for p in (root / "by").iterdir()} == {
        "v1.txt": "one", "v2.txt": "two", "conat.txt": "three"}
    for name, text in (("v1", "one"), ("v2", "two"), ("conat", "three")):
        path = f"by/{name}.txt"
        r = api.v1("read_text_file_from_project", {"project_id": emulator.pa, "path": path})
        assert r.json()["content"] == text
        assert api.project(emulator.pa, "system.readTextFileFromProject", {"path": path}) == text
    enoent = "ENOENT: no such file or directory, open 'gone.txt'"
    r = api.v1("read_text_file_from_project", {"project_id": emulator.pa, "path": "gone.txt"})
    assert r.json()["error"] == enoent
    reply = api.project(emulator.pa, "system.readTextFileFromProject", {"path": "gone.txt"})
    assert reply["error"] == f"Error: {enoent}"
    escape = "path leaves the project: '../x.txt'"
    r = api.v1("write_text_file_to_project",
               {"project_id": emulator.pa, "path": "../x.txt", "content": ""})
    assert r.json()["error"] == escape
    r = api.v2("projects/write-text-file",
               {"project_id": emulator.pa, "path": "../x.txt", "content": ""})
    assert r.json() == {"error": escape}
    reply = api.project(emulator.pa, "system.writeTextFileToProject",
                        {"path": "../x.txt", "content": ""})
    assert reply["error"] == f"Error: {escape}"


def test_create_project(api, emulator):
    made = {
        "v1": api.v1("create_project", {"title": "T1", "description": "d1"}).json()["project_id"],
        "v2": api.v2("projects/create", {"title": "T2", "description": "d2"}).json()["project_id"],
        "conat": api.hub("projects.createProject", {"title": "T3", "description": "d3"}),
    }
    for i, project_id in enumerate(made.values(), start=1):
        assert emulator.project_path(project_id).is_dir()
        project = emulator.state.projects[project_id]
        assert (project.title, project.description) == (f"T{i}", f"d{i}")


def test_query_projects(api, emulator):
    query = {"projects": [{"project_id": None, "title": None, "users": None}]}
    by_v1 = api.v1("query", {"query": query}).json()["query"]
    by_v2 = api.v2("user-query", {"query": query}).json()["query"]
    by_conat = api.hub("db.userQuery", {"query": query})
    assert by_v1 == by_v2 == by_conat
    titles = {p["title"]: p for p in by_conat["projects"]}
    assert titles["Project A"]["project_id"] == emulator.pa
    assert titles["Project A"]["users"] == {emulator.account_id: {"group": "owner"}}
    bad = {"nope": [{"x": None}]}
    text = "FATAL: table 'nope' is not supported by the cocalc-widgets emulator"
    assert api.v1("query", {"query": bad}).json()["error"] == text
    assert api.v2("user-query", {"query": bad}).json() == {"error": text}
    assert api.hub("db.userQuery", {"query": bad})["error"] == f"Error: {text}"


def test_exec(api, emulator):
    body = {"project_id": emulator.pa, "command": "echo", "args": ["same"]}
    disabled = "is disabled in the cocalc-widgets emulator: start it with --allow-exec"
    assert disabled in api.v1("project_exec", body).json()["error"]
    assert disabled in api.v2("exec", body).json()["error"]
    assert disabled in api.project(emulator.pa, "system.exec", body)["error"]
    emulator.allow_exec = True
    want = {"stdout": "same\n", "stderr": "", "exit_code": 0}
    r = api.v1("project_exec", body).json()
    assert {k: r[k] for k in want} == want
    assert api.v2("exec", body).json() == {**want, "type": "blocking"}  # as CoCalc's v2
    # A current project's system.exec (CoCalc's executeCode) also says the run was blocking.
    assert api.project(emulator.pa, "system.exec", body) == {"type": "blocking", **want}


def test_copy(api, emulator):
    (emulator.project_path(emulator.pa) / "f.txt").write_text("f")
    dst = emulator.project_path(emulator.pb)
    r = api.v1("copy_path_between_projects", {
        "src_project_id": emulator.pa, "src_path": "f.txt", "target_project_id": emulator.pb,
        "target_path": "v1.txt", "wait_until_done": True})
    assert r.json()["event"] == "success"
    r = api.v2("projects/copy-path", {"src_project_id": emulator.pa, "path": "f.txt",
                                      "target_project_id": emulator.pb, "target_path": "v2.txt"})
    assert r.json() == {"copy_id": ""}  # waited (CoCalc's default): no id
    assert api.hub("projects.copyPathBetweenProjects", {
        "src_project_id": emulator.pa, "src_path": "f.txt", "target_project_id": emulator.pb,
        "target_path": "conat.txt"}) is None
    assert sorted(p.name for p in dst.iterdir()) == ["conat.txt", "v1.txt", "v2.txt"]
    assert [(e["api"], e["target_path"]) for e in emulator.ledger] == [
        ("v1", "v1.txt"), ("v2", "v2.txt"), ("conat", "conat.txt")]


def test_auth_tokens_sign_in(api, emulator):
    by_v1 = api.v1("user_auth", {"account_id": emulator.account_id, "password": ""})
    by_v1 = by_v1.json()["auth_token"]
    by_conat = api.hub("system.generateUserAuthToken", {"user_account_id": emulator.account_id})
    for token in (by_v1, by_conat):
        assert emulator.state.token_account(token) == emulator.account_id
        r = requests.get(f"{emulator.url}/auth/impersonate?auth_token={token}", timeout=10)
        assert r.cookies.get("remember_me")
    unknown = str(uuid.uuid4())
    text = f"account '{unknown}' does not exist"  # a site admin asking for nobody
    assert api.v1("user_auth", {"account_id": unknown, "password": ""}).json()["error"] == text
    reply = api.hub("system.generateUserAuthToken", {"user_account_id": unknown})
    assert reply["error"] == f"Error: {text}"


def test_ping(api, emulator):
    assert api.v1("ping").json()["event"] == "pong"
    assert set(api.hub("system.ping")) == {"now"}
    assert set(api.project(emulator.pa, "system.ping")) == {"now"}
