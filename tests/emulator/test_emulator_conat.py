"""The conat bridges of the emulator (PROTOCOL.md §5) over real HTTP: the exact bytes of each
method's body and reply, every error text, the bridge timeout, bans, tokens, orgs, exec,
listing, path confinement, generations served, and faults."""

from __future__ import annotations

import json
import os
import re
import time
import uuid

import pytest
import requests

from cocalc_widgets.emulator import Emulator, _api_conat

NO_AUTH = "You must provide authentication via an API key."
NO_ACCOUNT_KEY = "must be signed in and MUST provide an api key (cookies are not allowed)"
BANNED = "banned -- please wait at least #{BAN_TIME_MS/1000}s before trying again"


def hub_error(emu, name, message, code="undefined", bridge=False):
    # A method's own error: "Error: <message>" (the real server's answer, no suffix); the
    # bridge's own failures (its timeout, code 408; a bad timeout) carry the callHub suffix.
    if code == "undefined" and not bridge:
        return {"error": f"Error: {message}"}
    subject = f"hub.account.{emu.account_id}.api"
    return {"error": f"{message} - callHub: subject='{subject}', name='{name}', code='{code}' "}


def project_error(project_id, name, message, code="undefined", bridge=False):
    if code == "undefined" and not bridge:
        return {"error": f"Error: {message}"}
    subject = f"project.{project_id}.0.api.-"
    return {"error": f"{message} - callHub: subject='{subject}', name='{name}', code='{code}' "}


def post_raw(emu, bridge, raw: bytes, **kwargs):
    kwargs.setdefault("auth", (emu.api_key, ""))
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.post(f"{emu.url}/api/conat/{bridge}", data=raw, headers=headers, timeout=10,
                         **kwargs)


def impersonate(emu, token):
    return requests.get(f"{emu.url}/auth/impersonate", params={"auth_token": token}, timeout=10)


# -- the hub bridge: bytes in, bytes out ------------------------------------------------------------
def test_hub_ping_bytes(emulator):
    for raw in (b'{"name":"system.ping","args":[]}', b'{"name":"system.ping","args":[{}]}',
                b'{"name":"system.ping"}'):
        r = post_raw(emulator, "hub", raw)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        assert re.fullmatch(rb'\{"now":\d{13}\}', r.content), r.content
        assert abs(r.json()["now"] / 1000 - time.time()) < 5


def test_hub_system_test_fills_in_the_caller(emulator):
    other = str(uuid.uuid4())
    r = post_raw(emulator, "hub",
                 json.dumps({"name": "system.test", "args": [{"account_id": other}]}).encode())
    body = r.json()
    assert set(body) == {"account_id", "server_time"}
    assert body["account_id"] == emulator.account_id  # the server says who calls
    assert r.content.startswith(b'{"account_id":"' + emulator.account_id.encode() + b'","server_time":')


def test_hub_authentication_errors(api, emulator):
    url = f"{emulator.url}/api/conat/hub"
    body = {"name": "system.ping", "args": []}
    r = requests.post(url, json=body, timeout=10)
    assert r.status_code == 200 and r.content == b'{"error":"' + NO_AUTH.encode() + b'"}'
    r = requests.post(url, json=body, auth=("sk-not-the-key", ""), timeout=10)
    assert r.status_code == 200 and r.json() == {"error": NO_ACCOUNT_KEY}
    r = requests.post(url, json=body, headers={"Authorization": "Token abc"}, timeout=10)
    assert r.json() == {"error": "Unknown authorization type 'Token'"}
    r = requests.post(url, json=body, headers={"Authorization": f"Bearer {emulator.api_key}"},
                      timeout=10)
    assert set(r.json()) == {"now"}
    # a signed-in browser session (cookie) never authenticates a bridge call
    token = emulator.state.issue_token()
    cookies = impersonate(emulator, token).cookies
    assert cookies.get("remember_me")
    r = requests.post(url, json=body, cookies=cookies, timeout=10)
    assert r.json() == {"error": NO_AUTH}


def test_only_post_carries_params(emulator):
    r = requests.get(f"{emulator.url}/api/conat/hub", params={"name": "system.ping"},
                     auth=(emulator.api_key, ""), timeout=10)
    assert r.status_code == 200
    assert r.json() == hub_error(emulator, "undefined", "unknown function 'undefined'")


def test_unknown_function_and_bad_args(api, emulator):
    r = api.conat("hub", {"name": "system.nope", "args": []})
    assert r.json() == hub_error(emulator, "system.nope", "unknown function 'system.nope'")
    assert b"callHub" not in r.content  # a method's error: the real server adds no suffix
    assert api.hub("system.test", args_ignored=1) != {}  # unknown body fields are ignored
    r = api.conat("hub", {"name": "system.test", "args": {"not": "a list"}})
    assert r.json() == hub_error(emulator, "system.test", "args must be an array")


def test_timeout_must_be_positive(api, emulator):
    for timeout in (0, -1, "-5"):
        reply = api.hub("system.ping", timeout=timeout)
        assert reply == hub_error(emulator, "system.ping", "timeout must be positive", bridge=True)
        assert reply["error"].endswith("code='undefined' ")  # the trailing space is upstream's
    for timeout in (1e15, "Infinity", "soon", None):  # huge, or not a number: waits as usual
        assert set(api.hub("system.ping", timeout=timeout)) == {"now"}


def test_malformed_json_and_too_large_bodies(emulator):
    r = post_raw(emulator, "hub", b"{not json")
    assert r.status_code == 400 and "error" in r.json()
    with Emulator(data_dir=emulator.data_dir / "small", max_body=100) as small:
        r = post_raw(small, "hub", json.dumps({"name": "system.ping", "x": "y" * 500}).encode())
        assert r.status_code == 413


# -- the bridge timeout ---------------------------------------------------------------------------
def _copy_body(emu, **extra):
    return {"name": "projects.copyPathBetweenProjects",
            "args": [{"src_project_id": emu.pa, "src_path": "slow.txt",
                      "target_project_id": emu.pb}], **extra}


def test_copy_outlasting_the_timeout_answers_408_then_completes_once(api, emulator):
    (emulator.project_path(emulator.pa) / "slow.txt").write_text("slow")
    target = emulator.project_path(emulator.pb) / "slow.txt"
    # The bridge answers at its 0.3 s timeout, long before the copy (3 s) ends: room for a loaded
    # machine on both sides (at 1 s the copy could end before a slow reply, or the check below).
    emulator.copy_delay = 3.0
    started = time.time()
    r = api.conat("hub", _copy_body(emulator, timeout=300))
    assert time.time() - started < emulator.copy_delay / 2
    assert r.json() == hub_error(emulator, "projects.copyPathBetweenProjects", "timeout", "408")
    assert not target.exists()  # the copy goes on...
    assert emulator.wait_idle(10)
    assert target.read_text() == "slow"  # ...and completes,
    assert [e["api"] for e in emulator.ledger] == ["conat"]  # exactly once
    assert emulator.ledger[0]["error"] is None
    assert emulator.request_count("projects.copyPathBetweenProjects", api="conat") == 1


def test_default_timeout_is_15_seconds(api, emulator, monkeypatch):
    assert _api_conat.DEFAULT_TIMEOUT_MS == 15000
    monkeypatch.setattr(_api_conat, "DEFAULT_TIMEOUT_MS", 300)  # no 15 s wait in a test
    (emulator.project_path(emulator.pa) / "slow.txt").write_text("slow")
    emulator.copy_delay = 3.0  # ten times the (patched) timeout: it ends well after the answer
    r = api.conat("hub", _copy_body(emulator))  # no timeout in the body
    assert r.json() == hub_error(emulator, "projects.copyPathBetweenProjects", "timeout", "408")
    assert emulator.wait_idle(10) and len(emulator.ledger) == 1


def test_a_longer_timeout_waits_for_the_copy(api, emulator):
    (emulator.project_path(emulator.pa) / "slow.txt").write_text("slow")
    emulator.copy_delay = 0.4
    r = api.conat("hub", _copy_body(emulator, timeout=5000))
    assert r.content == b"null"
    assert (emulator.project_path(emulator.pb) / "slow.txt").read_text() == "slow"


# -- copies ---------------------------------------------------------------------------------------
def test_copy_answers_null_after_the_copy(api, emulator):
    src = emulator.project_path(emulator.pa)
    (src / "hw").mkdir()
    (src / "hw/a.txt").write_text("a")
    raw = json.dumps({"name": "projects.copyPathBetweenProjects", "args": [{
        "src_project_id": emulator.pa, "src_path": "hw", "target_project_id": emulator.pb,
        "target_path": "in/hw", "overwrite_newer": True, "delete_missing": False, "backup": False,
        "timeout": 30, "bwlimit": "1M", "exclude": ["*.tmp"]}]}).encode()
    r = post_raw(emulator, "hub", raw)
    assert r.status_code == 200 and r.content == b"null"
    assert (emulator.project_path(emulator.pb) / "in/hw/a.txt").read_text() == "a"
    (entry,) = emulator.ledger
    assert entry["api"] == "conat" and entry["target_path"] == "in/hw" and entry["error"] is None


def test_copy_defaults_target_project_and_path(api, emulator):
    src = emulator.project_path(emulator.pa)
    (src / "f.txt").write_text("f")
    reply = api.hub("projects.copyPathBetweenProjects",
                    {"src_project_id": emulator.pa, "src_path": "f.txt", "target_path": "g.txt"})
    assert reply is None and (src / "g.txt").read_text() == "f"
    reply = api.hub("projects.copyPathBetweenProjects",
                    {"src_project_id": emulator.pa, "src_path": "f.txt",
                     "target_project_id": emulator.pb})
    assert reply is None and (emulator.project_path(emulator.pb) / "f.txt").read_text() == "f"
    assert emulator.ledger[1]["target_path"] == "f.txt"


def test_copy_errors(api, emulator):
    name = "projects.copyPathBetweenProjects"
    unknown = str(uuid.uuid4())
    cases = [
        ({"src_project_id": unknown, "src_path": "x", "target_project_id": unknown},
         "user must be collaborator on source project"),
        ({"src_project_id": "not-a-uuid", "src_path": "x"},
         "user must be collaborator on source project"),
        ({"src_project_id": emulator.pa, "src_path": "x", "target_project_id": unknown},
         "user must be collaborator on target project"),
    ]
    for opts, message in cases:
        assert api.hub(name, opts) == hub_error(emulator, name, message)
    reply = api.hub(name, {"src_project_id": emulator.pa, "src_path": "missing.txt",
                           "target_project_id": emulator.pb})
    assert "No such file" in reply["error"]
    assert reply["error"].startswith("Error: ") and "callHub" not in reply["error"]
    assert len(emulator.ledger) == 1 and emulator.ledger[0]["error"]  # the failed copy ran
    reply = api.hub(name, {"src_project_id": emulator.pa, "src_path": "../x",
                           "target_project_id": emulator.pb})
    assert reply == hub_error(emulator, name, "path leaves the project: '../x'")


# -- projects and queries -------------------------------------------------------------------------
def test_create_project(api, emulator):
    r = api.conat("hub", {"name": "projects.createProject", "args": [{
        "title": "Made by conat", "description": "d", "license": "", "image": "x",
        "public_path_id": None, "start": True, "noPool": True}]})
    project_id = r.json()
    assert re.fullmatch(rb'"[0-9a-f-]{36}"', r.content)
    assert emulator.project_path(project_id).is_dir()
    assert emulator.state.projects[project_id].title == "Made by conat"
    assert emulator.state.projects[project_id].description == "d"
    assert uuid.UUID(api.hub("projects.createProject"))  # no options at all


def test_user_query(api, emulator):
    name = "db.userQuery"
    reply = api.hub(name, {"query": {"projects": [{"project_id": None, "title": None}]},
                           "options": [{"limit": 10}]})
    assert {p["title"]: p["project_id"] for p in reply["projects"]}["Project B"] == emulator.pb
    assert api.hub(name, {"query": {"accounts": {"first_name": None}}}) == {
        "accounts": {"first_name": "Emulator"}}
    assert api.hub(name, {"query": {"accounts": {"first_name": "W"}}}) == {}
    assert api.hub(name, {"query": {"accounts": {"first_name": None, "last_name": None}}}) == {
        "accounts": {"first_name": "W", "last_name": "User"}}
    assert api.hub(name, {"query": {"projects": {"project_id": emulator.pa, "title": "Z"}}}) == {}
    assert emulator.state.projects[emulator.pa].title == "Z"
    assert api.hub(name, {"query": "nonsense"}) == hub_error(emulator, name, "malformed query")


# -- auth tokens ----------------------------------------------------------------------------------
def test_generate_token_bytes_ttl_and_sign_in(api, emulator):
    raw = json.dumps({"name": "system.generateUserAuthToken",
                      "args": [{"user_account_id": emulator.account_id}]}).encode()
    r = post_raw(emulator, "hub", raw)
    assert re.fullmatch(rb'"[A-Za-z0-9]{24}"', r.content)
    token = r.json()
    assert emulator.state._tokens[token].expires == pytest.approx(time.time() + 24 * 3600, abs=60)
    r = impersonate(emulator, token)
    assert r.status_code == 200 and r.cookies.get("remember_me")  # signed in
    assert api.hub("system.revokeUserAuthToken", token) is None
    r = impersonate(emulator, token)
    assert "unknown or expired token" in r.text and not r.cookies.get("remember_me")


def test_site_admin_password_rule(api, emulator):
    name = "system.generateUserAuthToken"
    student = emulator.create_account("Stu", "Dent", "stu@example.com", password="pw")
    nopw = emulator.create_account("No", "Password")
    assert len(api.hub(name, {"user_account_id": student})) == 24  # admin, no password
    assert len(api.hub(name, {"user_account_id": nopw, "password": ""})) == 24
    assert len(api.hub(name, {"user_account_id": student, "password": "pw"})) == 24
    unknown = str(uuid.uuid4())
    assert api.hub(name, {"user_account_id": unknown}) == hub_error(
        emulator, name, f"account '{unknown}' does not exist")
    # a non-empty password is still checked (real CoCalc skips that for a site admin)
    assert api.hub(name, {"user_account_id": student, "password": "bad"}) == hub_error(
        emulator, name, "incorrect password")


def test_wrong_password_bans_the_pair_then_expires(api, emulator):
    name = "system.generateUserAuthToken"
    emulator.ctx.conat_bans.seconds = 0.5
    student = emulator.create_account("Stu", password="pw")
    other = emulator.create_account("Other", password="pw2")
    assert api.hub(name, {"user_account_id": student, "password": "no"}) == hub_error(
        emulator, name, "incorrect password")
    for password in ("pw", "no", ""):  # even the right password, even an admin's empty one
        assert api.hub(name, {"user_account_id": student, "password": password}) == hub_error(
            emulator, name, BANNED)
    assert len(api.hub(name, {"user_account_id": other, "password": "pw2"})) == 24  # other pair
    assert api.v1("user_auth", {"account_id": student, "password": "pw"}).json()["event"] == (
        "user_auth_token")  # v1 keeps its own bans, as CoCalc did
    time.sleep(0.6)
    assert len(api.hub(name, {"user_account_id": student, "password": "pw"})) == 24


def test_non_admin_needs_the_password(tmp_path):
    with Emulator(data_dir=tmp_path, site_admin=False, password="secret") as emu:
        auth = (emu.api_key, "")
        student = emu.create_account("Stu", password="pw")

        def call(opts):
            return requests.post(f"{emu.url}/api/conat/hub", auth=auth, timeout=10, json={
                "name": "system.generateUserAuthToken", "args": [opts]}).json()

        name = "system.generateUserAuthToken"
        assert call({"user_account_id": emu.account_id, "password": "secret"})  # own account
        assert call({"user_account_id": student, "password": "pw"})
        assert call({"user_account_id": str(uuid.uuid4())}) == hub_error(
            emu, name, "incorrect password")
        assert call({"user_account_id": emu.account_id}) == hub_error(
            emu, name, "incorrect password")  # no password: not even one's own
        assert call({"user_account_id": emu.account_id, "password": "secret"}) == hub_error(
            emu, name, BANNED)
        r = requests.post(f"{emu.url}/api/v1/user_auth", auth=auth, timeout=10,
                          json={"account_id": student, "password": ""})
        assert r.json()["error"].startswith("invalid account_id or password -- banned")


def test_org_create_token(api, emulator):
    emulator.seed_demo()
    student = emulator.demo_accounts["Student 2"]
    for user in ("student2@example.com", student):
        reply = api.hub("org.createToken", {"user": user})
        assert set(reply) == {"token", "url"} and len(reply["token"]) == 24
        assert reply["url"] == f"{emulator.url}/auth/impersonate?auth_token={reply['token']}"
        assert emulator.state.token_account(reply["token"]) == student
    r = requests.get(reply["url"], timeout=10)
    assert r.cookies.get("remember_me")
    assert api.hub("org.expireToken", {"token": reply["token"]}) is None
    assert not emulator.state.check_token(reply["token"])
    for user in (emulator.account_id, "nobody@example.com"):
        assert api.hub("org.createToken", {"user": user}) == hub_error(
            emulator, "org.createToken", "user is not in an org")


def test_org_create_token_needs_an_org_admin_or_site_admin(tmp_path):
    with Emulator(data_dir=tmp_path, site_admin=False) as emu:
        boss = emu.create_account("Boss")
        emu.create_org("school", admins=[boss])
        pupil = emu.create_account("Pupil", email_address="pupil@example.com", org="school")

        def create_token(user):
            return requests.post(f"{emu.url}/api/conat/hub", auth=(emu.api_key, ""), timeout=10,
                                 json={"name": "org.createToken", "args": [{"user": user}]}).json()

        assert create_token(pupil) == hub_error(
            emu, "org.createToken", "user must be an admin of the organization or site-admin")
        emu.state.add_org_admin("school", emu.account_id)
        assert create_token("pupil@example.com")["token"]
        emu.state.site_admin = True
        emu.create_org("other", admins=[boss])
        assert create_token(emu.create_account("P2", org="other"))["token"]


# -- the project bridge ---------------------------------------------------------------------------
def test_project_bridge_refusals(api, emulator):
    url = f"{emulator.url}/api/conat/project"
    body = {"project_id": emulator.pa, "name": "system.ping", "args": []}
    assert requests.post(url, json=body, timeout=10).json() == {"error": NO_AUTH}
    r = requests.post(url, json=body, auth=("sk-nope", ""), timeout=10)
    assert r.json() == {"error": "must sign in as project or account"}
    assert api.conat("project", {"name": "system.ping", "args": []}).json() == {
        "error": "must specify project_id or use project-specific api key"}
    for project_id in (str(uuid.uuid4()), "not-a-uuid"):
        r = api.conat("project", {**body, "project_id": project_id})
        assert r.content == b'{"error":"user must be a collaborator on the project"}'
    assert api.project(emulator.pa, "system.nope") == project_error(
        emulator.pa, "system.nope", "unknown function 'system.nope'")
    assert api.project(emulator.pa, "system.ping", timeout=0) == project_error(
        emulator.pa, "system.ping", "timeout must be positive", bridge=True)
    assert api.project(emulator.pa, "system.ping", compute_server_id=2) == {
        "error": "the cocalc-widgets emulator has no compute servers"}


def test_project_ping_and_test(api, emulator):
    for args in ([], [{}]):
        r = api.conat("project", {"project_id": emulator.pa, "name": "system.ping", "args": args})
        assert re.fullmatch(rb'\{"now":\d{13}\}', r.content)
    reply = api.project(emulator.pa, "system.test")
    assert reply["project_id"] == emulator.pa and set(reply) == {"project_id", "server_time"}


def test_write_and_read_text_files(api, emulator):
    r = api.conat("project", {"project_id": emulator.pa, "name": "system.writeTextFileToProject",
                              "args": [{"path": "deep/er/x.txt", "content": "héllo\n"}]})
    assert r.content == b"null"
    assert (emulator.project_path(emulator.pa) / "deep/er/x.txt").read_text() == "héllo\n"
    r = api.conat("project", {"project_id": emulator.pa, "name": "system.readTextFileFromProject",
                              "args": [{"path": "deep/er/x.txt"}]})
    assert r.content == '"héllo\\n"'.encode()
    name = "system.readTextFileFromProject"
    assert api.project(emulator.pa, name, {"path": "nope.txt"}) == project_error(
        emulator.pa, name, "ENOENT: no such file or directory, open 'nope.txt'")
    assert api.project(emulator.pa, name, {"path": "deep"}) == project_error(
        emulator.pa, name, "EISDIR: illegal operation on a directory, read 'deep'")


def test_listing(api, emulator):
    root = emulator.project_path(emulator.pa)
    (root / "docs").mkdir()
    (root / "docs/a.md").write_text("a")
    (root / "docs/.hidden").write_text("h")
    (root / "docs/sub").mkdir()
    (root / "data.csv").write_text("x,y\n")
    (root / ".secret").write_text("s")
    os.utime(root / "data.csv", (1_700_000_000.5, 1_700_000_000.5))
    reply = api.project(emulator.pa, "system.listing", {"path": ""})
    # CoCalc's order is the folder's own (opendir), not sorted
    assert [e["name"] for e in reply] == [n for n in os.listdir(root) if n in ("data.csv", "docs")]
    data, docs = sorted(reply, key=lambda e: e["name"])
    assert data == {"name": "data.csv", "size": 4, "mtime": 1_700_000_000.5}
    assert docs["isdir"] is True and docs["size"] == 2  # a.md and sub, not .hidden
    assert docs["mtime"] == pytest.approx((root / "docs").stat().st_mtime)
    hidden = {e["name"]: e for e in api.project(emulator.pa, "system.listing", {"path": "", "hidden": True})}
    assert sorted(hidden) == [".secret", "data.csv", "docs"]
    assert hidden["docs"]["size"] == 3
    assert not any(name.startswith(".cocalc-emulator") for name in hidden)
    sub = sorted(api.project(emulator.pa, "system.listing", {"path": "docs"}), key=lambda e: e["name"])
    assert sub == [{"name": "a.md", "size": 1, "mtime": sub[0]["mtime"]},
                   {"name": "sub", "isdir": True, "size": 0, "mtime": sub[1]["mtime"]}]
    # a symlink: CoCalc's issymlink and link_target, and the target's own kind and size
    (root / "docs/to-a").symlink_to("a.md")
    (root / "docs/broken").symlink_to("gone.md")
    links = {e["name"]: e for e in api.project(emulator.pa, "system.listing", {"path": "docs"})}
    assert links["to-a"] == {"name": "to-a", "issymlink": True, "link_target": "a.md", "size": 1,
                             "mtime": links["to-a"]["mtime"]}
    assert links["broken"]["issymlink"] is True and links["broken"]["link_target"] == "gone.md"
    assert "issymlink" not in links["a.md"] and "link_target" not in links["a.md"]
    assert api.project(emulator.pa, "system.listing", {"path": "nope"}) == project_error(
        emulator.pa, "system.listing", "ENOENT: no such file or directory, opendir 'nope'")


def test_exec_refused_without_allow_exec(api, emulator):
    reply = api.project(emulator.pa, "system.exec", {"command": "echo hi"})
    assert reply["error"].startswith("Error: system.exec is disabled in the cocalc-widgets emulator")
    assert "--allow-exec" in reply["error"] and "Emulator(allow_exec=True)" in reply["error"]


def test_exec(api, emulator):
    emulator.allow_exec = True
    (emulator.project_path(emulator.pa) / "sub").mkdir()
    r = api.conat("project", {"project_id": emulator.pa, "name": "system.exec",
                              "args": [{"command": "echo", "args": ["a", "b"]}]})
    assert r.content == b'{"type":"blocking","stdout":"a b\\n","stderr":"","exit_code":0}'
    reply = api.project(emulator.pa, "system.exec",
                        {"command": "pwd; echo $X >&2", "bash": True, "path": "sub",
                         "env": {"X": "from env"}})
    assert reply["stdout"].strip() == str(emulator.project_path(emulator.pa) / "sub")
    assert reply["stderr"] == "from env\n"
    reply = api.project(emulator.pa, "system.exec",
                        {"command": "exit 3", "bash": True, "err_on_exit": False})
    assert reply == {"type": "blocking", "stdout": "", "stderr": "", "exit_code": 3}
    reply = api.project(emulator.pa, "system.exec", {"command": "exit 3", "bash": True})
    # CoCalc's executeCode: a bash command is named as given, any other with its args.
    # executeCode's error is a plain string: no "Error: " prefix (as the real server answers)
    assert reply["error"].startswith("command 'exit 3' exited with nonzero code 3 -- stderr=''")
    reply = api.project(emulator.pa, "system.exec",
                        {"command": "bash", "args": ["-c", "echo oops >&2; exit 42"]})
    assert reply["error"].startswith(
        "command ''bash' (args=-c echo oops >&2; exit 42)' exited with nonzero code 42 "
        "-- stderr='oops\n'")
    reply = api.project(emulator.pa, "system.exec", {"command": "sleep 5", "timeout": 0.3})
    assert "killed command" in reply["error"]
    reply = api.project(emulator.pa, "system.exec", {"command": "echo", "max_output": 2,
                                                     "args": ["abcdef"]})
    assert reply["stdout"] == "ab (truncated at 2 characters)"


BAD_PATHS = ["../escape.txt", "../../escape.txt", "/etc/passwd", "~/x", "bad\x00name",
             "link_out/secret.txt", "link_out"]


def test_paths_never_leave_the_project(api, emulator, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the-secret-content")
    os.symlink(outside, emulator.project_path(emulator.pa) / "link_out")
    emulator.allow_exec = True
    for bad in BAD_PATHS:
        for name, opts in (
            ("system.writeTextFileToProject", {"path": bad, "content": "pwned"}),
            ("system.readTextFileFromProject", {"path": bad}),
            ("system.listing", {"path": bad}),
            ("system.exec", {"command": "touch pwned", "bash": True, "path": bad}),
        ):
            reply = api.project(emulator.pa, name, opts)
            assert isinstance(reply, dict) and "error" in reply, (name, bad, reply)
            assert "the-secret-content" not in json.dumps(reply)
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "the-secret-content"
    listed = {e["name"]: e for e in api.project(emulator.pa, "system.listing", {"path": ""})}
    link = listed["link_out"]
    assert link["issymlink"] is True and link["link_target"] == str(outside)
    assert "isdir" not in link  # a link out of the project is not followed


# -- generations served, faults -------------------------------------------------------------------
def test_a_v2_conat_server_is_like_cocalc_com(tmp_path):
    with Emulator(data_dir=tmp_path, api_versions=("v2", "conat")) as emu:
        auth = (emu.api_key, "")
        r = requests.post(f"{emu.url}/api/v1/ping", json={}, auth=auth, timeout=10)
        assert r.status_code == 404 and "text/html" in r.headers["Content-Type"]
        r = requests.post(f"{emu.url}/api/conat/hub", auth=auth, timeout=10,
                          json={"name": "system.ping", "args": []})
        assert set(r.json()) == {"now"}
        r = requests.post(f"{emu.url}/api/v2/projects/create", json={}, auth=auth, timeout=10)
        assert uuid.UUID(r.json()["project_id"])
        emu.api_versions = ["v1", "v2"]
        r = requests.post(f"{emu.url}/api/conat/hub", auth=auth, timeout=10,
                          json={"name": "system.ping", "args": []})
        assert r.status_code == 404 and "text/html" in r.headers["Content-Type"]


def test_api_versions_are_checked(tmp_path, emulator):
    assert emulator.api_versions == ("v1", "v2", "conat")
    with pytest.raises(ValueError, match="unknown API version 'v3': choose any of v1, v2, conat"):
        Emulator(data_dir=tmp_path / "x", api_versions=("v2", "v3"))
    with pytest.raises(ValueError, match="no API version"):
        emulator.api_versions = []
    assert emulator.api_versions == ("v1", "v2", "conat")


def test_faults_apply_to_the_conat_bridges(api, emulator):
    (emulator.project_path(emulator.pa) / "slow.txt").write_text("f")
    emulator.faults.configure(fail_rate=1.0)
    r = api.conat("hub", _copy_body(emulator))
    assert r.status_code == 503 and "text/html" in r.headers["Content-Type"]
    assert emulator.ledger == []
    emulator.faults.configure(fail_rate=0.0, rate_limit_rate=1.0, retry_after=2)
    r = api.conat("project", {"project_id": emulator.pa, "name": "system.ping", "args": []})
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    emulator.faults.configure(rate_limit_rate=0.0, gateway_timeout_rate=1.0, after_fraction=1.0)
    r = api.conat("hub", _copy_body(emulator))
    assert r.status_code == 504 and "<html>" in r.text
    assert len(emulator.ledger) == 1  # the copy ran, its reply was lost
    emulator.faults.configure(gateway_timeout_rate=0.0, drop_rate=1.0, after_fraction=0.0)
    with pytest.raises(requests.ConnectionError):
        api.conat("hub", {"name": "system.ping", "args": []})
    emulator.faults.off()
    emulator.faults.latency = 0.2
    started = time.time()
    assert set(api.hub("system.ping")) == {"now"}
    assert time.time() - started >= 0.2
    assert emulator.request_count("projects.copyPathBetweenProjects", api="conat") == 2
    assert emulator.request_count("system.ping", api="conat") == 3
    assert emulator.requests[0]["fault"] == "error" and emulator.requests[0]["path"] == (
        "/api/conat/hub")
