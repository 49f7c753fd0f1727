"""The emulator's conat methods that CoCalc's own cocalc-api drives (issue 21): a project's life
cycle, collaborators (a removed one loses access at once, everywhere), organisations, names and
search, messages, sync history, project-scoped keys and real Jupyter kernels. Texts are CoCalc's
(read from its source); bad input changes nothing."""

from __future__ import annotations

import os
import re
import time

import pytest
import requests
from _running import start_command, stop_command

from cocalc_widgets.emulator import Emulator


def _err(reply: object) -> str:
    """A method's error text: CoCalc's hub answers ``Error: <message>``, without the bridge's
    callHub suffix (that is only on the bridge's own failures)."""
    assert isinstance(reply, dict) and "error" in reply, reply
    text = str(reply["error"])
    if text.startswith("Error: "):
        assert "callHub" not in text, text
        return text[len("Error: "):]
    return text


def _query_project(api, project_id: str, table: str = "projects_all") -> dict:
    fields = {"project_id": project_id, "state": None, "deleted": None, "users": None}
    reply = api.hub("db.userQuery", {"query": {table: [fields]}})
    (row,) = reply[table]
    return row


class Stranger:
    """Another account with its own API key."""

    def __init__(self, emu: Emulator, name: str = "Stranger") -> None:
        self.account_id = emu.create_account(name, "Person", f"{name.lower()}@example.com")
        self.key = emu.create_api_key(self.account_id)
        self.url = emu.url

    def conat(self, bridge: str, body: dict) -> object:
        return requests.post(
            f"{self.url}/api/conat/{bridge}", json=body, auth=(self.key, ""), timeout=10
        ).json()

    def hub(self, name: str, *args: object) -> object:
        return self.conat("hub", {"name": name, "args": list(args)})

    def project(self, project_id: str, name: str, *args: object) -> object:
        return self.conat("project", {"project_id": project_id, "name": name, "args": list(args)})

    def v1(self, endpoint: str, body: dict) -> dict:
        r = requests.post(f"{self.url}/api/v1/{endpoint}", json=body, auth=(self.key, ""), timeout=10)
        return r.json()

    def v2(self, endpoint: str, body: dict) -> dict:
        r = requests.post(f"{self.url}/api/v2/{endpoint}", json=body, auth=(self.key, ""), timeout=10)
        return r.json()


# -- life cycle ------------------------------------------------------------------------------------
def test_a_project_moves_through_cocalc_states(api, emulator):
    pid = api.hub("projects.createProject", {"title": "Life"})
    assert _query_project(api, pid)["state"] == {"state": "opened"}
    assert api.hub("projects.status", {"project_id": pid}) == {}
    assert api.hub("projects.start", {"project_id": pid}) is None
    state = api.hub("projects.state", {"project_id": pid})
    assert state["state"] == "running" and state["ip"] == "127.0.0.1" and state["time"]
    status = api.hub("projects.status", {"project_id": pid})
    assert status["project.pid"] == os.getpid() and status["start_ts"] > 0
    # The real server's keys (tests/conformance/traces/project-life.json), no more
    assert set(status) == {"project.pid", "hub-server.port", "browser-server.port", "start_ts",
                           "session_id"}
    assert status["hub-server.port"] == int(emulator.url.rsplit(":", 1)[1])
    api.project(pid, "system.writeTextFileToProject", {"path": "keep.txt", "content": "kept"})
    assert api.hub("projects.stop", {"project_id": pid}) is None
    assert api.hub("projects.state", {"project_id": pid})["state"] == "opened"
    assert (emulator.project_path(pid) / "keep.txt").read_text() == "kept"  # files stay
    assert api.hub("projects.touch", {"project_id": pid}) is None  # touch starts it
    assert api.hub("projects.state", {"project_id": pid})["state"] == "running"
    api.hub("projects.stop", {"project_id": pid})
    # The project bridge starts a stopped project before a call, as CoCalc's does.
    assert api.project(pid, "system.readTextFileFromProject", {"path": "keep.txt"}) == "kept"
    assert api.hub("projects.state", {"project_id": pid})["state"] == "running"


def test_life_cycle_refusals_are_cocalcs_and_change_nothing(api, emulator):
    stranger = Stranger(emulator)
    for name, verb in (("start", "start it"), ("stop", "stop it"), ("touch", "touch it"),
                       ("state", "get state"), ("status", "get status")):
        reply = stranger.hub(f"projects.{name}", {"project_id": emulator.pa})
        assert _err(reply) == f"must be collaborator on project to {verb}"
        assert "uuid" in _err(api.hub(f"projects.{name}", {"project_id": "nope"}))
    assert _err(api.hub("projects.deleteProject", {"project_id": "x"})).startswith(
        "project_id must be a valid UUID")
    assert _err(stranger.hub("projects.deleteProject", {"project_id": emulator.pa})).startswith(
        "must be an owner to delete a project")
    assert emulator.state.projects[emulator.pa].deleted is False
    assert emulator.state.projects[emulator.pa].state == "running"


def test_a_deleted_project_keeps_its_files_and_leaves_the_listings(api, emulator):
    (emulator.project_path(emulator.pb) / "f.txt").write_text("f")
    assert api.hub("projects.deleteProject", {"project_id": emulator.pb}) is None
    row = _query_project(api, emulator.pb)
    assert row["deleted"] is True and row["state"] == {"state": "opened"}
    assert (emulator.project_path(emulator.pb) / "f.txt").read_text() == "f"
    front = requests.get(emulator.url + "/", timeout=10).text
    assert "Project A" in front and "Project B" not in front


# -- collaborators ---------------------------------------------------------------------------------
def test_a_removed_collaborator_loses_access_at_once_everywhere(api, emulator):
    (emulator.project_path(emulator.pa) / "a.txt").write_text("secret")
    user = Stranger(emulator, "Collab")
    assert api.hub("projects.addCollaborator", {"opts": {
        "project_id": emulator.pa, "account_id": user.account_id}}) == {
        "project_id": [emulator.pa]}
    assert _query_project(api, emulator.pa)["users"][user.account_id] == {"group": "collaborator"}
    read = {"project_id": emulator.pa, "path": "a.txt"}
    assert user.v1("read_text_file_from_project", read)["content"] == "secret"
    assert user.project(emulator.pa, "system.readTextFileFromProject", {"path": "a.txt"}) == "secret"
    token = api.hub("system.generateUserAuthToken", {"user_account_id": user.account_id})
    page = requests.Session()
    assert page.get(f"{emulator.url}/auth/impersonate?auth_token={token}", timeout=10).ok
    file_url = f"{emulator.url}/_kiosk/file"
    assert page.get(file_url, params=read, timeout=10).json()["text"] == "secret"

    assert api.hub("projects.removeCollaborator", {"opts": {
        "project_id": emulator.pa, "account_id": user.account_id}}) is None
    assert user.account_id not in _query_project(api, emulator.pa)["users"]
    assert user.v1("read_text_file_from_project", read)["event"] == "error"
    assert "collaborator" in _err(user.v2("exec", {"project_id": emulator.pa, "command": "ls"}))
    assert _err(user.project(emulator.pa, "system.readTextFileFromProject", {"path": "a.txt"})
                ) == "user must be a collaborator on the project"
    denied = page.get(file_url, params=read, timeout=10)  # the session signed in before
    assert denied.status_code == 403 and "secret" not in denied.text
    kiosk = page.get(f"{emulator.url}/projects/{emulator.pa}/files/a.txt?fullscreen=kiosk",
                     timeout=10)
    assert kiosk.status_code == 403 and "secret" not in kiosk.text


def test_collaborator_refusals(api, emulator):
    user = Stranger(emulator)
    owner = {"project_id": emulator.pa, "account_id": emulator.account_id}
    # CoCalc's OwnershipError keeps its name before the text (the real server's answer)
    assert api.hub("projects.removeCollaborator", {"opts": owner}) == {
        "error": "OwnershipError: Cannot remove an owner. Demote to collaborator first."}
    nowhere = {"project_id": "00000000-0000-4000-8000-000000000000", "account_id": user.account_id}
    assert api.hub("projects.addCollaborator", {"opts": nowhere}) == {
        "error": "OwnershipError: Project not found"}
    bad = {"project_id": emulator.pa, "account_id": "not-a-uuid"}
    assert "all account id's must be valid uuid's" in _err(
        api.hub("projects.addCollaborator", {"opts": bad}))
    pair = {"project_id": [emulator.pa, emulator.pb], "account_id": [user.account_id]}
    assert "must be arrays of the same length" in _err(
        api.hub("projects.addCollaborator", {"opts": pair}))
    join = {"project_id": emulator.pa, "account_id": user.account_id}
    assert f"user {user.account_id} does not have write access" in _err(
        user.hub("projects.addCollaborator", {"opts": join}))
    assert "Invalid project_id: x" in _err(api.hub("projects.addCollaborator", {"opts": {
        "project_id": "x", "account_id": user.account_id}}))
    assert _err(user.hub("projects.removeCollaborator", {"opts": owner})).startswith(
        "user must be a collaborator")
    assert emulator.state.projects[emulator.pa].collaborators == []
    assert emulator.state.projects[emulator.pb].collaborators == []


# -- organisations, names, search, messages --------------------------------------------------------
def test_organisations(api, emulator):
    org_id = api.hub("org.create", {"name": "school"})
    assert re.fullmatch(r"[0-9a-f-]{36}", org_id)
    assert "already used" in _err(api.hub("org.create", {"name": "school"}))
    assert api.hub("org.set", {"name": "school", "title": "School", "link": "https://x"}) is None
    got = api.hub("org.get", {"name": "school"})
    assert got["title"] == "School" and got["link"] == "https://x" and got["description"] is None
    assert _err(api.hub("org.get", {"name": "nope"})).startswith("no org named 'nope'")
    uid = api.hub("org.createUser", {"name": "school", "email": "t@school.edu",
                                     "firstName": "Tea", "lastName": "Cher"})
    assert [u["account_id"] for u in api.hub("org.getUsers", {"name": "school"})] == [uid]
    assert api.hub("org.createUser", {"name": "school", "email": "t@school.edu"}) == {
        "error": 'error: duplicate key value violates unique constraint "accounts_email_address_key"'}
    api.hub("org.addAdmin", {"name": "school", "user": "t@school.edu"})
    assert api.hub("org.get", {"name": "school"})["admin_account_ids"] == [uid]
    assert "first remove them from being an admin" in _err(
        api.hub("org.removeUser", {"name": "school", "user": uid}))
    api.hub("org.create", {"name": "other"})
    assert "already member of another organization" in _err(
        api.hub("org.addAdmin", {"name": "other", "user": uid}))
    api.hub("org.removeAdmin", {"name": "school", "user": uid})
    assert api.hub("org.get", {"name": "school"})["admin_account_ids"] is None
    assert {o["name"] for o in api.hub("org.getAll")} == {"school", "other"}
    stranger = Stranger(emulator)
    assert _err(stranger.hub("org.getAll")).startswith("must be a site admin")
    assert _err(stranger.hub("org.create", {"name": "mine"})).startswith(
        "only admins may create organizations")
    assert _err(stranger.hub("org.getUsers", {"name": "school"})).startswith(
        "user must be an admin of the organization or site-admin")
    assert "mine" not in emulator.state.orgs


def test_names_and_user_search(api, emulator):
    uid = emulator.create_account("Ada", "Lovelace", "ada@example.com")
    gone = "00000000-0000-4000-8000-000000000000"
    assert api.hub("system.getNames", [uid, gone]) == {
        uid: {"first_name": "Ada", "last_name": "Lovelace", "profile": None},
        gone: {"first_name": "Deleted", "last_name": "User"}}
    assert "invalid input syntax for type uuid" in _err(api.hub("system.getNames", ["x"]))
    (hit,) = api.hub("system.userSearch", {"query": "ada@example.com"})
    assert hit["account_id"] == uid and hit["email_address"] == "ada@example.com"
    (hit,) = api.hub("system.userSearch", {"query": "love"})
    assert hit["account_id"] == uid and "email_address" not in hit
    assert api.hub("system.userSearch", {"query": "zzz-nobody"}) == []


def test_messages(api, emulator):
    user = Stranger(emulator, "Reader")
    mid = api.hub("messages.send", {"subject": "Hi", "body": "**b**",
                                    "to_ids": ["reader@example.com"]})
    assert isinstance(mid, int) and mid > 0
    (got,) = user.hub("messages.get", {"type": "received"})
    assert got["id"] == mid and got["subject"] == "Hi" and got["from_id"] == emulator.account_id
    assert api.hub("messages.get", {"type": "received"}) == []
    assert [m["id"] for m in api.hub("messages.get", {"type": "sent"})] == [mid]
    nobody = "00000000-0000-4000-8000-000000000000"
    assert _err(api.hub("messages.send", {"subject": "x", "body": "y", "to_ids": [nobody]})
                ).startswith(f"invalid account_id -- {nobody}")
    assert _err(api.hub("messages.get", {"limit": 501})).startswith("limit must be at most 500")
    assert len(emulator.state.messages) == 1


def test_sync_history_of_a_file_written_through_the_api_is_empty_as_on_cocalc(api, emulator):
    """The real server has no history for a file nobody opened in an editor, written through
    the API or not (tests/conformance/traces/more.json): neither has the emulator."""
    for text in ("one\n", "two\n"):
        api.project(emulator.pa, "system.writeTextFileToProject", {"path": "h.md", "content": text})
    for path in ("h.md", "other.md"):
        assert api.hub("sync.history", {"project_id": emulator.pa, "path": path}) == {
            "patches": [], "info": {}}
    assert _err(Stranger(emulator).hub("sync.history", {"project_id": emulator.pa, "path": "h.md"})
                ).startswith("user must be collaborator on source project")


# -- keys ------------------------------------------------------------------------------------------
def test_a_project_key_works_for_its_project_only(emulator):
    key = emulator.create_project_key(emulator.pa)
    url = emulator.url

    def post(path: str, body: dict) -> dict:
        return requests.post(url + path, json=body, auth=(key, ""), timeout=10).json()

    assert post("/api/conat/project", {"name": "system.test"})["project_id"] == emulator.pa
    assert post("/api/conat/project", {"project_id": emulator.pa, "name": "system.ping"})["now"]
    assert post("/api/conat/project", {"project_id": emulator.pb, "name": "system.ping"}) == {
        "error": "project specific api key must match requested project"}
    assert post("/api/conat/hub", {"name": "system.ping"}) == {
        "error": "must be signed in and MUST provide an api key (cookies are not allowed)"}
    assert "error" in post("/api/v2/projects/create", {})
    assert "error" in post("/api/v1/ping", {})
    assert emulator.create_project_key("Project B") != key
    with pytest.raises(ValueError, match="no project with id or title"):
        emulator.create_project_key("nope")


def test_project_key_flag(tmp_path):
    proc, text = start_command(
        "cocalc_widgets", "emulator", "--port", "0", "--data", str(tmp_path / "d"), "--demo",
        "--project-key", "Instructor")
    try:
        url = re.search(r"running at (\S+)", text).group(1)
        key = re.search(r"project key 'Instructor': (\S+)", text).group(1)
        ids = dict(re.findall(r"project '([^']+)': (\S+)", text))
        reply = requests.post(f"{url}/api/conat/project", json={"name": "system.test"},
                              auth=(key, ""), timeout=10).json()
        assert reply["project_id"] == ids["Instructor"]
    finally:
        stop_command(proc)


# -- Jupyter -----------------------------------------------------------------------------------------
def test_jupyter_kernels_are_real_stateless_and_end_with_the_project(api, emulator):
    pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    run = {"input": "sum(range(100))", "kernel": "python3"}
    assert "--allow-exec" in _err(api.project(emulator.pa, "system.jupyterExecute", run))
    emulator.allow_exec = True
    names = [k["name"] for k in api.hub("jupyter.kernels", {"project_id": emulator.pa})]
    assert "python3" in names
    assert api.project(emulator.pa, "system.jupyterExecute", run, timeout=60000) == [
        {"data": {"text/plain": "4950"}}]
    reply = api.hub("jupyter.execute", {**run, "input": "print(x * 2)", "history": ["x = 21"],
                                        "project_id": emulator.pa}, timeout=60000)
    assert reply["output"] == [{"name": "stdout", "text": "42\n"}] and reply["created"]
    # Each call starts from a fresh kernel: x from the history above is gone.
    (out,) = api.project(emulator.pa, "system.jupyterExecute", {**run, "input": "x"},
                         timeout=60000)
    assert out["ename"] == "NameError"
    (kernel,) = api.project(emulator.pa, "system.listJupyterKernels")
    assert kernel["kernel_name"] == "python3" and kernel["connectionFile"]
    assert "Available specs" in _err(api.project(emulator.pa, "system.jupyterExecute",
                                                 {**run, "kernel": "nope"}))
    assert _err(api.project(emulator.pa, "system.jupyterExecute", {"kernel": "python3"})
                ).startswith("input or hash must not be null")
    assert _err(api.hub("jupyter.execute", run)).startswith(
        "Jupyter API is not enabled on this server.")
    api.hub("projects.stop", {"project_id": emulator.pa})
    deadline = time.monotonic() + 10
    while _alive(kernel["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kernel["pid"])
    assert api.project(emulator.pa, "system.listJupyterKernels") == []
    assert api.project(emulator.pa, "system.stopJupyterKernel", {"pid": 1}) == {"success": False}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie that its parent has not reaped yet has ended
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


NEW_HUB_METHODS = [
    "projects.start", "projects.stop", "projects.touch", "projects.state", "projects.status",
    "projects.deleteProject", "projects.addCollaborator", "projects.removeCollaborator",
    "org.getAll", "org.create", "org.get", "org.set", "org.addAdmin", "org.addUser",
    "org.createUser", "org.getUsers", "org.removeUser", "org.removeAdmin", "org.message",
    "system.getNames", "system.userSearch", "messages.send", "messages.get", "sync.history",
    "jupyter.kernels", "jupyter.execute",
]
ODD = [None, 7, "", "x", [], ["x"], {}, {"a": 1}, True]
FIELDS = ["project_id", "account_id", "name", "user", "query", "to_ids", "subject", "body",
          "limit", "type", "path", "input", "kernel", "history", "email", "pid"]


def test_odd_arguments_are_refused_without_a_crash_and_change_nothing(api, emulator):
    """A stranger's calls with odd arguments: CoCalc-like refusals, never an internal error,
    and no project, account, organisation or message appears or changes."""
    stranger = Stranger(emulator)
    before = (len(emulator.state.projects), len(emulator.state.accounts),
              dict(emulator.state.orgs), list(emulator.state.messages))
    for name in NEW_HUB_METHODS:
        for value in ODD:
            fields = dict.fromkeys(FIELDS, value)
            for args in ([value], [fields], [{"opts": fields}]):
                reply = stranger.hub(name, *args)
                assert "internal error" not in str(reply), (name, args, reply)
    for name in ("system.jupyterExecute", "system.stopJupyterKernel"):
        for value in ODD:
            reply = api.project(emulator.pa, name, dict.fromkeys(FIELDS, value))
            assert "internal error" not in str(reply), (name, value, reply)
    after = (len(emulator.state.projects), len(emulator.state.accounts),
             dict(emulator.state.orgs), list(emulator.state.messages))
    assert after == before
    assert all(not p.deleted and p.state == "running" for p in emulator.state.projects.values())


def test_kernels_end_when_the_emulator_stops(tmp_path):
    pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    emu = Emulator(data_dir=tmp_path / "data", allow_exec=True).start()
    try:
        pid = emu.create_project("K")
        reply = requests.post(f"{emu.url}/api/conat/project", auth=(emu.api_key, ""), timeout=90,
                              json={"project_id": pid, "name": "system.jupyterExecute",
                                    "args": [{"input": "1+1", "kernel": "python3"}],
                                    "timeout": 60000}).json()
        assert reply == [{"data": {"text/plain": "2"}}]
        (kernel,) = emu.ctx.jupyter.running(pid)
    finally:
        emu.stop()
    assert not _alive(kernel["pid"])
