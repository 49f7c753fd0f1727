"""A newcomer's first hour, round two (issue 18): each rough edge they met, as a test of what
they get now. (The demo's and the emulator's export lines: tests/scenarios/test_demo_command.py,
tests/emulator/test_emulator_cli.py, tests/emulator/test_emulator_https.py; a frame no view
shows: tests/frame/test_frame.py.)"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import cocalc_widgets.client as client_module
from cocalc_widgets import (
    BadInput,
    CoCalcClient,
    CoCalcConnectionError,
    CopyFailed,
    CopyNotFound,
    CopyRefused,
    CopyResult,
    CopyResults,
    NotADirectory,
    NotFound,
    PermissionDenied,
    copy_to_many,
    wait_all,
)
from cocalc_widgets.emulator import Emulator
from cocalc_widgets.magics import MagicError

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()
STRANGER = "7c1b2e7a-1111-4222-8333-944455556666"  # no such project


# -- README's commands are what CI runs --------------------------------------------------------
def test_ci_runs_both_of_readmes_set_up_commands_as_written_in_a_fresh_venv():
    opening = README.split("\n---\n", 1)[0]
    commands = re.findall(r"^    (python3 .+)$", opening, re.MULTILINE)
    assert len(commands) == 2 and "demo" in commands[0] and "pytest" in commands[1]
    for command in commands:
        assert command in CI, f".ci/run does not run README's command as written: {command}"
    venv = CI.index("python3 -m venv")
    assert venv < CI.index(commands[0]) < CI.index(commands[1])
    assert CI.index(commands[1]) < CI.index('".[docs]"')  # nothing else installed before


def test_the_docs_tests_need_no_docs_extra(monkeypatch):
    # README's test command installs the test extra only: the docs' role rewriting (used by
    # the help tables the docs tests render) must work without griffe.
    monkeypatch.setitem(sys.modules, "griffe", None)  # import griffe -> ImportError
    import importlib.util

    spec = importlib.util.spec_from_file_location("_roles_check", ROOT / "docs" / "_griffe_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.rewrite_roles("see :class:`CopyJob`") == "see `CopyJob`"


# -- client errors -----------------------------------------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_connection_names_the_server_tried(monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}"
    with CoCalcClient("sk-abcdefghijklmnop", host=url, retries=0) as client, pytest.raises(CoCalcConnectionError) as info:
        client.ping()
    assert f"Could not connect to the CoCalc server at {url}" in str(info.value)
    assert "default" not in str(info.value)  # the host was given


def test_without_a_host_the_error_says_the_default_is_cocalc_com(monkeypatch):
    monkeypatch.delenv("COCALC_HOST", raising=False)
    default = f"http://127.0.0.1:{_closed_port()}"  # stands in for https://cocalc.com here
    monkeypatch.setattr(client_module, "DEFAULT_HOST", default)
    with CoCalcClient("sk-abcdefghijklmnop", retries=0) as client, pytest.raises(CoCalcConnectionError) as info:
        client.ping()
    text = str(info.value)
    assert f"at {default}" in text and "No host was given and $COCALC_HOST is unset" in text
    assert "pass host=... or set COCALC_HOST" in text


@pytest.mark.parametrize(
    ("host", "drop", "use"),
    [
        ("http://127.0.0.1:5000/api/v1", "'/api/v1'", "'http://127.0.0.1:5000'"),
        ("https://cocalc.example/cocalc/api/v2/", "'/api/v2'", "'https://cocalc.example/cocalc'"),
        ("https://cocalc.example/api/conat/hub", "'/api/conat/hub'", "'https://cocalc.example'"),
    ],
)
def test_a_host_with_an_api_route_is_refused_saying_what_to_drop(host, drop, use):
    with pytest.raises(BadInput) as info:
        CoCalcClient("sk-abcdefghijklmnop", host=host)
    assert f"drop {drop} and use {use}" in str(info.value)


def test_a_host_with_a_path_that_answers_nothing_says_to_drop_the_path(emulator):
    with CoCalcClient(emulator.api_key, host=emulator.url + "/cocalc") as client, pytest.raises(BadInput) as info:
        client.projects()
    assert "The host has a path (/cocalc): drop it" in str(info.value)
    assert f"host={emulator.url!r}" in str(info.value)


def test_an_option_combination_no_generation_takes_names_each_options_generations(emulator):
    with CoCalcClient(emulator.api_key, host=emulator.url) as client, pytest.raises(BadInput) as info:
        client.copy_path_between_projects(
            emulator.pa, "a", emulator.pb, scheduled="2030-01-01T00:00:00", bwlimit="1M"
        )
    text = str(info.value)
    assert "takes scheduled= together with bwlimit=" in text
    assert "scheduled= only in API v1" in text and "bwlimit= only in API v2, conat" in text
    assert "not supported by CoCalc's API v2 and v1" not in text
    assert emulator.request_count(endpoint="copy_path_between_projects") == 0


def test_a_copy_id_is_not_called_a_project_uuid(emulator):
    with CoCalcClient(emulator.api_key, host=emulator.url) as client:
        with pytest.raises(BadInput, match=r"copy_path_id must be a copy id \(the UUID"):
            client.copy_path_status("not-an-id")
        with pytest.raises(BadInput, match=r"account_id must be an account id"):
            client.user_auth("nope")


def test_copy_to_many_refuses_no_targets(emulator):
    with CoCalcClient(emulator.api_key, host=emulator.url) as client:
        with pytest.raises(BadInput, match="targets is empty"):
            copy_to_many(client, emulator.pa, "a.txt", [])
        assert client.requests_sent == 0


def test_a_multi_line_rsync_error_stays_on_its_row():
    error = (
        'rsync: [sender] change_dir "/projects/x/handout" failed: No such file or directory (2)\n'
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)\n"
    )
    results = CopyResults([
        CopyResult(STRANGER, None, label="Student 1:handout", error=CopyFailed(error)),
        CopyResult(STRANGER, "x", label="Student 2:x", before=True),
    ])
    lines = results.table().splitlines()
    assert len(lines) == 3  # the counts, then one line per target
    assert all(line.startswith("  ") for line in lines[1:])
    assert "(No such file or directory (2) rsync error:" not in lines[1]
    assert lines[1].endswith("(code 23))") and "failed: No such file" in lines[1]


def test_listing_a_file_says_it_is_a_file(emulator):
    (emulator.project_path(emulator.pa) / "notes.txt").write_text("hi")
    with CoCalcClient(emulator.api_key, host=emulator.url) as client, pytest.raises(NotADirectory) as info:
        client.list_files(emulator.pa, "notes.txt")
    assert isinstance(info.value, NotFound) and isinstance(info.value, NotADirectoryError)
    assert f"'notes.txt' in project {emulator.pa} is a file, not a folder" in str(info.value)


@pytest.mark.parametrize("api", ["v1", "v2", "conat"])
def test_a_project_that_does_not_exist_is_permission_denied_as_readme_says(emulator, api):
    row = next(line for line in README.splitlines() if line.startswith("| `PermissionDenied`"))
    assert "does not exist" in row
    assert "project" not in next(line for line in README.splitlines() if line.startswith("| `NotFound`")).split("|")[2].split(";")[0]
    with CoCalcClient(emulator.api_key, host=emulator.url, api=api) as client:
        with pytest.raises(PermissionDenied):
            client.write_text_file_to_project(STRANGER, "a.txt", "x")
        with pytest.raises(PermissionDenied):  # conat: when the copy ends (README's row says so)
            client.copy_path_between_projects(emulator.pa, "a", STRANGER).wait(timeout=30)


@pytest.mark.parametrize("api", ["v1", "v2", "conat"])
def test_the_same_copy_mistake_is_the_same_error_class_on_every_generation(emulator, api):
    (emulator.project_path(emulator.pa) / "a.txt").write_text("x")
    with CoCalcClient(emulator.api_key, host=emulator.url, api=api) as client:
        with pytest.raises(PermissionDenied) as refused:
            client.copy_path_between_projects(emulator.pa, "a.txt", STRANGER).wait(timeout=30)
        with pytest.raises(NotFound) as missing:
            client.copy_path_between_projects(emulator.pa, "nope.txt", emulator.pb).wait(timeout=30)
    if api == "conat":  # said when the copy ended: a CopyFailed as well
        assert isinstance(refused.value, CopyRefused) and isinstance(refused.value, CopyFailed)
        assert isinstance(missing.value, CopyNotFound) and isinstance(missing.value, CopyFailed)


def test_version_flag():
    from cocalc_widgets import __version__

    done = subprocess.run(
        [sys.executable, "-m", "cocalc_widgets", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == f"cocalc-widgets {__version__}"


# -- the progress bar outside notebooks ----------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_wait_all_shows_a_text_bar_in_a_terminal_and_none_in_a_log(tmp_path, monkeypatch, terminal):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with Emulator(data_dir=tmp_path / "d", copy_delay=1.5) as emu:
        src = emu.create_project("Instructor")
        (emu.project_path(src) / "a.txt").write_text("x")
        targets = emu.create_projects(["S1", "S2"])
        with CoCalcClient(emu.api_key, host=emu.url) as client:
            results = copy_to_many(client, src, "a.txt", targets, journal=False)
            wait_all(client, results, timeout=60)
    assert [r.state for r in results] == ["done", "done"]
    text = stream.getvalue()
    if terminal:
        assert "2/2" in text and "2 done" in text and text.endswith("\n")
    else:
        assert text == ""


# -- magics --------------------------------------------------------------------------------------
@pytest.fixture
def shell(emulator, magic_shell):
    for title in ("Student 1", "Student 2"):
        emulator.create_project(title)
    return magic_shell(emulator.url, emulator.api_key)


def _one_line(err: MagicError) -> str:
    return err._render_traceback_()[0]


@pytest.mark.parametrize("magic", ["cocalc_copy", "cocalc_copy_status", "cocalc_embed"])
def test_dash_h_shows_the_help(shell, capsys, magic):
    assert shell.run_line_magic(magic, "-h") is None
    out = capsys.readouterr().out
    assert out.lstrip().startswith(f"%{magic} [") and "options:" in out and "required" not in out


def test_an_unquoted_title_with_spaces_says_to_quote_it(shell):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("cocalc_copy", '"Project A":a.txt Student 1 Student 2')
    text = str(info.value)
    assert text.startswith("no project titled 'Student'") and 'quote it: "Student 1"' in text


def test_no_key_in_a_magic_says_the_magics_ways_with_one_prefix(shell, monkeypatch):
    monkeypatch.delenv("COCALC_API_KEY")
    with pytest.raises(MagicError) as info:
        shell.run_line_magic("cocalc_copy", '"Project A":a.txt "Project B"')
    line = _one_line(info.value)
    assert line.count("MagicError") == 1 and line.count("AuthenticationError") == 1
    assert "%config CoCalcMagics.api_key" in line and "api_key=..." not in line


def test_a_wrong_key_in_a_magic_says_cocalc_refused_the_key_and_names_the_magic(shell, monkeypatch):
    monkeypatch.setenv("COCALC_API_KEY", "sk-WrongWrongWrongWrong12")
    with pytest.raises(MagicError) as info:
        shell.run_line_magic("cocalc_copy", '"Project A":a.txt "Project B"')
    line = _one_line(info.value)
    assert "AuthenticationError: CoCalc refused the API key" in line
    assert "[%cocalc_copy: " in line and "copy-path-status" not in line


# -- docs and metadata ---------------------------------------------------------------------------
def test_the_quick_start_names_every_demo_notebook():
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    notebooks = sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.suffix in (".ipynb", ".py"))
    assert notebooks and all(f"`{name}`" in quickstart for name in notebooks)
    assert "three notebooks" not in quickstart + (ROOT / "docs" / "index.md").read_text()


def test_the_description_names_every_api_generation():
    description = re.search(r'^description = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert "v1" in description and "v2" in description and "conat" in description


def test_the_emulator_front_page_says_what_the_demo_prints():
    from cocalc_widgets import _demo

    page = (ROOT / "cocalc_widgets" / "emulator" / "_landing.py").read_text()
    assert "password are printed by the command that started" in page
    assert "password:" in Path(_demo.__file__).read_text()  # and the demo prints it


# -- what the real server showed (issue 19) --------------------------------------------------------
@pytest.mark.parametrize(("versions", "via"), [(("v2", "conat"), "conat"), (("v1", "v2"), "v1")])
def test_query_options_go_where_they_are_sent_not_to_v2_which_drops_them(tmp_path, versions, via):
    with Emulator(data_dir=tmp_path / "d", api_versions=versions) as emu:
        for title in ("A", "B", "C"):
            emu.create_project(title)
        rows = {"projects": [{"project_id": None, "title": None}]}
        with CoCalcClient(emu.api_key, host=emu.url) as client:
            assert len(client.query(rows)["projects"]) == 3
            assert emu.requests[-1]["api"] == "v2"  # no options: v2 as before
            limited = client.query(rows, options=[{"limit": 2}])
            assert len(limited["projects"]) == 2 and emu.requests[-1]["api"] == via
        with CoCalcClient(emu.api_key, host=emu.url, api="v2") as v2, pytest.raises(BadInput) as info:
            v2.query(rows, options=[{"limit": 2}])
        assert "not in CoCalc's API v2" in str(info.value)


def test_v2_is_detected_by_a_route_every_v2_server_has(tmp_path):
    # copy-path-status came in 2026-05: an older v2 server lacks it; customize is from 2021.
    with Emulator(data_dir=tmp_path / "d", api_versions=("v2",)) as emu:
        with CoCalcClient(emu.api_key, host=emu.url) as client:
            assert client.api_versions == ("v2",)
        assert [r["endpoint"] for r in emu.requests if r["api"] == "v2"] == ["customize"]


@pytest.mark.parametrize("api", ["v2", "conat"])
def test_create_project_with_start_starts_it_on_current_servers(tmp_path, api):
    # v2's projects/create ignores start (the client then calls projects/start); conat's
    # createProject honours it (it used to be stripped).
    with Emulator(data_dir=tmp_path / "d", api_versions=("v2", "conat")) as emu:
        with CoCalcClient(emu.api_key, host=emu.url, api=api) as client:
            started = client.create_project("Started", start=True)
            idle = client.create_project("Idle")
        with CoCalcClient(emu.api_key, host=emu.url) as asker:
            def state(pid: str) -> str:
                return asker.call_hub("projects.state", {"project_id": pid})["state"]

            assert state(started) == "running" and state(idle) != "running"


def test_a_slow_synchronous_v2_copy_is_not_unknown(tmp_path):
    # Single-user CoCalc answers copy-path after the copy even with wait_until_done false; a
    # copy slower than the read timeout used to end "unknown" though it ran (issue 19).
    with Emulator(data_dir=tmp_path / "d", api_versions=("v2", "conat"), single_user=True,
                  copy_delay=1.0) as emu:
        src = emu.create_project("Instructor")
        (emu.project_path(src) / "a.txt").write_text("x")
        targets = emu.create_projects([f"S{i}" for i in range(4)])
        with CoCalcClient(emu.api_key, host=emu.url, timeout=(5, 0.5)) as client:
            one = client.copy_path_between_projects(src, "a.txt", targets[0])
            assert one.copy_path_id is None and one.last_status.ok  # no id: it ran already
            results = copy_to_many(client, src, "a.txt", targets[1:], journal=False)
            wait_all(client, results, timeout=30)
        assert [r.state for r in results] == ["done"] * 3
        assert len(emu.ledger) == 4  # each ran once


@pytest.mark.parametrize(
    "body",
    [
        {"target_project_id": "SRC"},  # no path: "path must be specified"
        {"path": "a.txt", "target_project_id": "not-a-uuid"},  # "... must be a valid uuid"
    ],
)
def test_v2s_own_parameter_errors_are_bad_input(emulator, body):
    # The real server's v2 texts (issue 19); a plain CoCalcError before.
    body = {k: (emulator.pa if v == "SRC" else v) for k, v in body.items()}
    with CoCalcClient(emulator.api_key, host=emulator.url, api="v2") as client, pytest.raises(BadInput) as info:
        client.call("projects/copy-path", src_project_id=emulator.pa, **body)
    assert "must be" in str(info.value) and info.value.status == 200
