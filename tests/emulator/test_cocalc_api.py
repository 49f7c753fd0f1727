"""CoCalc's own Python client, ``cocalc-api`` (PyPI, 0.5.x), unchanged, against
``cocalc-widgets emulator`` run as a subprocess like cocalc.com (``--api-versions v2,conat``)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cocalc_api import Hub, Project  # the test extra installs it


@dataclass
class Server:
    """What the emulator printed: where it runs, its key, and the demo's ids."""

    url: str
    api_key: str
    account_id: str
    data: Path
    projects: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    def path(self, project: str, rel: str) -> Path:
        return self.data / self.projects[project] / rel


def _read_banner(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    lines: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    raise AssertionError(f"the emulator did not start: {''.join(lines)}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("cocalc-api") / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cocalc_widgets.cli", "emulator", "--port", "0",
         "--data", str(data), "--allow-exec", "--demo", "--api-versions", "v2,conat"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        text = _read_banner(proc)
        found = Server(
            url=re.search(r"running at (http://\S+)", text).group(1),
            api_key=re.search(r"API key:\s+(\S+)", text).group(1),
            account_id=re.search(r"account id:\s+(\S+)", text).group(1),
            data=data,
            projects=dict(re.findall(r"project '([^']+)': (\S+)", text)),
            accounts=dict(re.findall(r"account '([^']+)': (\S+) \(org demo\)", text)),
        )
        assert "APIs:       v2, conat" in text and len(found.accounts) == 5
        yield found
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def hub(server: Server) -> Hub:
    return Hub(server.api_key, server.url)


def test_system_ping_and_test(hub, server):
    assert abs(hub.system.ping()["now"] / 1000 - time.time()) < 10
    assert hub.system.test()["account_id"] == server.account_id


def test_projects_get_and_create(hub, server):
    titles = {p["title"]: p for p in hub.projects.get()}
    assert {"Instructor", "Student 1", "Student 5"} <= set(titles)
    instructor = titles["Instructor"]
    assert instructor["project_id"] == server.projects["Instructor"]
    assert instructor["users"][server.account_id] == {"group": "owner"}
    assert instructor["state"] == {"state": "running"} and instructor["deleted"] is False
    project_id = hub.projects.create_project(title="From cocalc-api", description="made")
    assert uuid.UUID(project_id) and (server.data / project_id).is_dir()
    (found,) = hub.projects.get(project_id=project_id, fields=["project_id", "title"])
    assert found == {"project_id": project_id, "title": "From cocalc-api"}


def test_copy_path_between_projects(hub, server):
    assert hub.projects.copy_path_between_projects(
        src_project_id=server.projects["Instructor"], src_path="handout",
        target_project_id=server.projects["Student 1"], target_path="homework") is None
    copied = server.path("Student 1", "homework/README.md")
    assert copied.read_text() == server.path("Instructor", "handout/README.md").read_text()
    assert server.path("Student 1", "homework/homework1.ipynb").is_file()


def test_db_query(hub):
    assert hub.db.query({"accounts": {"first_name": None}}) == {
        "accounts": {"first_name": "Emulator"}}
    assert hub.db.query({"accounts": {"first_name": "W"}}) == {}
    assert hub.db.query({"accounts": {"first_name": None}}) == {"accounts": {"first_name": "W"}}


def test_auth_tokens_sign_in(hub, server):
    token = hub.call("system.generateUserAuthToken",
                     [{"user_account_id": server.accounts["Student 1"]}])
    assert isinstance(token, str) and len(token) == 24
    r = requests.get(f"{server.url}/auth/impersonate", params={"auth_token": token}, timeout=10)
    assert r.status_code == 200 and r.cookies.get("remember_me")
    made = hub.org.create_token(user="student4@example.com")
    assert made["url"] == f"{server.url}/auth/impersonate?auth_token={made['token']}"
    hub.org.expire_token(made["token"])
    r = requests.get(made["url"], timeout=10)
    assert "unknown or expired token" in r.text


def test_project_ping_test_and_exec(server):
    project = Project(server.api_key, server.url, server.projects["Student 2"])
    assert set(project.system.ping()) == {"now"}
    assert project.system.test()["project_id"] == server.projects["Student 2"]
    assert project.system.exec(command="echo", args=["hello from cocalc"]) == {
        "type": "blocking", "stdout": "hello from cocalc\n", "stderr": "", "exit_code": 0}
    out = project.system.exec(command="cat welcome.md; echo $GREETING", bash=True,
                              env={"GREETING": "hi"}, timeout=10)
    assert out["stdout"] == "# Welcome, student 2\nhi\n"


def test_errors_cocalc_api_users_see(hub, server):
    with pytest.raises(RuntimeError, match=r"^must be signed in and MUST provide an api key"):
        Hub("sk-not-the-key", server.url).system.ping()
    with pytest.raises(RuntimeError, match=r"^user must be a collaborator on the project$"):
        Project(server.api_key, server.url, str(uuid.uuid4())).system.ping()
    with pytest.raises(RuntimeError, match=r"^Error: user must be collaborator on source project$"):
        hub.projects.copy_path_between_projects(src_project_id=str(uuid.uuid4()), src_path="x")
    student = server.accounts["Student 3"]
    with pytest.raises(RuntimeError, match=r"^Error: incorrect password$"):
        hub.call("system.generateUserAuthToken", [{"user_account_id": student, "password": "x"}])
    with pytest.raises(RuntimeError, match=re.escape("banned -- please wait at least #{BAN")):
        hub.call("system.generateUserAuthToken", [{"user_account_id": student}])
    project = Project(server.api_key, server.url, server.projects["Student 2"])
    with pytest.raises(RuntimeError, match=r"^command ''false' \(args=\)' exited with nonzero code 1 -- stderr=''"):
        project.system.exec(command="false")
    with pytest.raises(RuntimeError, match=r"^Error: unknown function 'system\.nope'$"):
        hub.call("system.nope", [])


def test_no_api_v1_like_cocalc_com(server):
    r = requests.post(f"{server.url}/api/v1/ping", auth=(server.api_key, ""), timeout=10)
    assert r.status_code == 404
