"""The client, the magics and the frame's sign-in against the emulator acting as a current CoCalc
(API v2 and the conat bridges, no v1: cocalc.com) and as a conat-only server, over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from cocalc_widgets import (
    AuthenticationError,
    CoCalcClient,
    CoCalcFrame,
    CopyResults,
    FileEntry,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
)
from cocalc_widgets.emulator import Emulator


@pytest.fixture(params=[("v2", "conat"), ("conat",)], ids=["cocalc.com", "conat-only"])
def current(request, tmp_path):
    emu = Emulator(data_dir=tmp_path / "data", api_versions=request.param, allow_exec=True)
    emu.projects = emu.seed_demo()  # type: ignore[attr-defined]
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def client_for(emu: Emulator, **kw) -> CoCalcClient:
    return CoCalcClient(api_key=emu.api_key, host=emu.url, **kw)


def test_every_typed_method_works(current):
    emu, instructor = current, current.projects["Instructor"]
    with client_for(emu) as client:
        assert client.ping().now is not None
        client.write_text_file_to_project(instructor, "notes/a.txt", "hello")
        assert client.read_text_file_from_project(instructor, "notes/a.txt") == "hello"
        assert (emu.project_path(instructor) / "notes" / "a.txt").read_text() == "hello"
        names = {e.name: e for e in client.list_files(instructor)}
        assert isinstance(names["handout"], FileEntry) and names["handout"].isdir
        assert [e.name for e in client.list_files(instructor, "notes")] == ["a.txt"]
        assert client.list_files(instructor, "notes")[0].size == 5
        out = client.project_exec(instructor, "cat", args=["notes/a.txt"])
        assert (out.stdout, out.exit_code) == ("hello", 0)
        new = client.create_project(title="Fresh")
        assert emu.project_path(new).is_dir()
        assert "Fresh" in {p["title"] for p in client.projects()}
        assert client.call_hub("system.test")["account_id"] == emu.account_id
        assert client.call_project(instructor, "system.ping")["now"] > 0
        with pytest.raises(NotFound):
            client.read_text_file_from_project(instructor, "missing.txt")
        with pytest.raises(NotFound, match="unknown function"):
            client.call_hub("system.noSuchThing")
        assert client.api_versions == tuple(sorted(emu.api_versions))


def test_auth_tokens_sign_a_browser_in(current):
    emu = current
    with client_for(emu) as client:
        token = client.user_auth(emu.account_id)  # the key's account is a site admin
        assert emu.request_count("system.generateUserAuthToken", api="conat") == 1
        page = requests.get(f"{emu.url}/auth/impersonate", params={"auth_token": str(token)}, timeout=10)
        assert page.status_code == 200 and "remember_me" in page.cookies
        client.revoke_auth_token(token)
        page = requests.get(f"{emu.url}/auth/impersonate", params={"auth_token": str(token)}, timeout=10)
        assert "remember_me" not in page.cookies
        student = emu.demo_accounts["Student 1"]
        org_token = client.create_token(student)
        assert org_token.url.startswith(f"{emu.url}/auth/impersonate?auth_token=")
        assert str(org_token.token) in org_token.url and str(org_token.token) not in repr(org_token)
        assert "remember_me" in requests.get(org_token.url, timeout=10).cookies
        assert client.create_token("student2@example.com").token != org_token.token
        with pytest.raises(PermissionDenied, match="not in an org"):
            client.create_token(emu.account_id)
        with pytest.raises(AuthenticationError, match="Wrong password"):
            client.user_auth(emu.account_id, "not the password")
        with pytest.raises(AuthenticationError, match="30 s after a wrong password"):
            client.user_auth(emu.account_id, emu.password)


def test_the_frame_signs_in_with_client_and_account_id_or_auth_url(current):
    emu, instructor = current, current.projects["Instructor"]
    with client_for(emu) as client:
        frame = CoCalcFrame(instructor, "handout/README.md", client=client, account_id=emu.account_id)
        assert frame.get_state()["_signin"] == "impersonate"
        assert emu.request_count("system.generateUserAuthToken", api="conat") == 1
        frame.close()
        student = emu.demo_accounts["Student 1"]
        _token, url = client.create_token(student)
        frame = CoCalcFrame(emu.projects["Student 1"], "welcome.md", auth_url=url)
        assert frame.host == emu.url and frame.get_state()["_signin"] == "impersonate"
        frame.close()


def test_a_bridge_timeout_on_a_copy_is_unknown_then_the_copy_completes_once(tmp_path):
    with Emulator(data_dir=tmp_path / "d", api_versions=("conat",), copy_delay=1.0) as emu:
        a, b = emu.create_project("A"), emu.create_project("B")
        (emu.project_path(a) / "f.txt").write_text("x")
        with client_for(emu, copy_wait=0.3) as client:
            job = client.copy_path_between_projects(a, "f.txt", b)
            with pytest.raises(OutcomeUnknown, match="timeout"):
                job.wait(timeout=10)
        assert emu.wait_idle(10)
        assert (emu.project_path(b) / "f.txt").read_text() == "x"
        assert [e["api"] for e in emu.ledger] == ["conat"]
        assert emu.request_count("projects.copyPathBetweenProjects", api="conat") == 1


# -- %cocalc_copy ------------------------------------------------------------------------------
@pytest.fixture
def shell(current, magic_shell):
    return magic_shell(current.url, current.api_key)


def test_cocalc_copy_to_a_class_with_a_summary(current, shell, capsys):
    emu = current
    missing = "00000000-0000-4000-8000-000000000000"
    students = [f'"Student {i}"' for i in range(1, 6)]
    results = shell.run_line_magic("cocalc_copy", f"Instructor:handout {' '.join(students)} {missing}")
    assert isinstance(results, CopyResults)
    assert [r.state for r in results[:5]] == ["done"] * 5
    assert results[5].state in ("failed", "not started") and "collaborator" in results[5].reason
    for i in range(1, 6):
        assert (emu.project_path(emu.projects[f"Student {i}"]) / "handout" / "data.csv").exists()
    expected = "v2" if "v2" in emu.api_versions else "conat"
    assert sorted({e["api"] for e in emu.ledger}) == [expected] and len(emu.ledger) == 5
    out = capsys.readouterr().out
    assert "5 done" in out and "collaborator" in out


def test_cocalc_copy_on_a_conat_only_server_keeps_concurrency_bounded(tmp_path, magic_shell):
    with Emulator(data_dir=tmp_path / "d", api_versions=("conat",), copy_delay=0.3) as emu:
        src = emu.create_project("Src")
        (emu.project_path(src) / "f.txt").write_text("x")
        targets = [emu.create_project(f"T{i}") for i in range(14)]
        ip = magic_shell(emu.url, emu.api_key)
        ip.run_line_magic("config", "CoCalcMagics.max_in_flight = 3")
        ip.run_line_magic("config", "CoCalcMagics.timeout = 10.0")
        start = time.monotonic()
        results = ip.run_line_magic("cocalc_copy", f"{src}:f.txt {' '.join(targets)}")
        took = time.monotonic() - start
        assert [r.state for r in results] == ["done"] * 14
        spans = sorted((e["started"], e["finished"]) for e in emu.ledger)
        most = max(sum(1 for s, f in spans if s <= start_ < f) for start_, _ in spans)
        # blocking copies in flight: at most the client's pool (max(10, max_in_flight)), many at once
        assert 3 <= most <= 10 and len(spans) == 14
        # Not one after another (that takes 14 x 0.3 = 4.2 s at least; two waves of 10 take
        # about 0.6 s): the overlap itself is checked above, this is room for a loaded machine.
        assert took < 14 * 0.3
