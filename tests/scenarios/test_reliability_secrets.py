"""Secrets: after the client, the magics, the widget, a demo notebook and the error paths have
run, the API key and the auth tokens appear in no output, log record (DEBUG, urllib3's too),
exception text or repr, traceback, warning, widget state or saved notebook."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import traceback
import warnings
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cocalc_widgets import CoCalcClient, CoCalcError, CoCalcFrame, copy_to_many, wait_all
from cocalc_widgets.emulator import Emulator, Faults

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def emu(tmp_path, monkeypatch):
    emu = Emulator(data_dir=tmp_path / "projects", copy_delay=0.02)
    emu.projects = emu.seed_demo()  # type: ignore[attr-defined]
    emu.start()
    monkeypatch.setenv("COCALC_HOST", emu.url)
    monkeypatch.setenv("COCALC_API_KEY", emu.api_key)
    monkeypatch.setenv("COCALC_ACCOUNT_ID", emu.account_id)
    try:
        yield emu
    finally:
        emu.stop()


def secrets_of(emu: Emulator) -> list[str]:
    """The key (plain and as it travels in the Basic auth header) and every token issued."""
    key = emu.api_key
    basic = base64.b64encode(f"{key}:".encode()).decode()
    with emu.state.lock:
        tokens = list(emu.state._tokens)
    return [key, basic, basic.rstrip("="), emu.password, *tokens]


class Collector:
    """Everything a user (or a log file) could see."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: object) -> None:
        for item in items:
            self.texts.append(item if type(item) is str else repr(item))  # an AuthToken shows its repr

    def error(self, err: BaseException) -> None:
        self.add(str(err), repr(err), err.args, "".join(traceback.format_exception(err)))
        if isinstance(err, CoCalcError):
            self.add(err.response, err.server_message, err.endpoint)

    def run(self, fn, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except CoCalcError as err:
            self.error(err)
            return None
        self.add(result)
        return result

    def check(self, secrets: list[str]) -> None:
        blob = "\n".join(self.texts)
        assert len(blob) > 1000  # we did look at something
        for secret in secrets:
            assert secret and secret not in blob, f"a secret leaked: ...{secret[-4:]}"


@pytest.fixture
def seen(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    caplog.set_level(logging.DEBUG, logger="cocalc_widgets")
    out = Collector()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield out
    out.add(*(str(w.message) for w in caught))
    captured = capsys.readouterr()
    out.add(captured.out, captured.err, caplog.text)
    out.add(*(r.getMessage() for r in caplog.records), *(repr(r.args) for r in caplog.records))


def test_client_and_error_paths_leak_nothing(emu, seen):
    p = emu.projects
    client = CoCalcClient(api="v1")
    seen.add(client, client.host, client.api)
    seen.add(seen.run(client.ping))
    job = seen.run(client.copy_path_between_projects, p["Instructor"], "handout", p["Student 1"])
    seen.add(job, job._repr_html_(), seen.run(job.wait, progress=False))
    seen.run(client.copy_path_status, src_project_id=p["Instructor"], pending=False)
    token = seen.run(client.user_auth, emu.account_id, emu.password)
    seen.add(token, [token], {"t": token})
    # error paths: refused key, unknown project, missing file, every kind of fault
    seen.run(CoCalcClient(api_key="sk-wrongwrongwrongwrongwr", api="v1").ping)
    seen.run(client.copy_path_between_projects, p["Instructor"], "handout", "00000000-0000-4000-8000-000000000000")
    missing = seen.run(client.copy_path_between_projects, p["Instructor"], "nothing.txt", p["Student 2"])
    seen.run(missing.wait, progress=False)
    for faults in (dict(fail_rate=1.0, error_status=500), dict(drop_rate=1.0), dict(gateway_timeout_rate=1.0),
                   dict(rate_limit_rate=1.0, retry_after=0)):
        emu.faults = Faults(seed=1, **faults)
        fast = CoCalcClient(api="v1", retries=1, deadline=5, timeout=(2, 5))
        seen.run(fast.ping)
        seen.run(fast.copy_path_between_projects, p["Instructor"], "handout", p["Student 3"], "x")
        seen.run(fast.read_text_file_from_project, p["Instructor"], "handout/README.md")
        emu.faults.off()
    for api in ("v1", "v2"):
        c = CoCalcClient(api=api)
        results = copy_to_many(c, p["Instructor"], "handout", [(p[f"Student {i}"], f"f-{api}") for i in range(1, 6)])
        seen.add(results, results.table(), results.table_html(), wait_all(c, results, progress=False).table())
    # the widget: its state (what is synced and saved with a notebook) and its repr
    for kwargs in (dict(auth_token=token), dict(auth_token=token, sign_in="url"),
                   dict(client=client, account_id=emu.account_id, password=emu.password)):
        frame = CoCalcFrame(p["Student 1"], "handout/README.md", host=emu.url, **kwargs)
        seen.add(frame, frame.url, json.dumps(frame.get_state(), default=str), frame.get_state())
    seen.run(client.user_auth, emu.account_id, "wrong password")  # error path (and a ban)
    seen.check(secrets_of(emu))


def test_magics_leak_nothing(emu, seen, magic_shell):
    p = emu.projects
    ip = magic_shell(emu.url, emu.api_key)
    ip.run_line_magic("config", "CoCalcMagics.api = 'v1'")  # user_auth (for %cocalc_embed) is API v1
    for line in ('"Instructor":handout "Student 1" "Student 2":hw',
                 '"Instructor":handout/README.md "Student 3"',
                 '"Instructor":nothing.txt "Student 4"',
                 '"Instructor":handout 00000000-0000-4000-8000-000000000000',
                 '"Instructor":handout "Nobody"'):
        result = ip.run_cell(f"%cocalc_copy {line}")
        seen.add(result.result, result.error_in_exec)
    for cell in ('%cocalc_copy_status --src "Instructor"', "%cocalc_copy_status 65cd2079-098d-4147-bb54-12d44cebb8cb",
                 f"frame = %cocalc_embed {p['Student 1']}:handout/README.md", "frame", "frame.get_state()",
                 "%config CoCalcMagics", "%config CoCalcMagics.api_key"):
        result = ip.run_cell(cell)
        seen.add(result.result, result.error_in_exec)
    assert "frame" in ip.user_ns, seen.texts[-12:]
    seen.add(ip.user_ns["frame"], json.dumps(ip.user_ns["frame"].get_state(), default=str))
    ip.run_line_magic("config", "CoCalcMagics.api_key = 'sk-notthekeynotthekey0000'")
    result = ip.run_cell(f"%cocalc_copy_status {p['Student 1']}")  # refused key: error path
    seen.add(result.error_in_exec)
    seen.check(secrets_of(emu))


def test_demo_notebook_leaks_nothing(emu, seen, tmp_path):
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(NOTEBOOKS / "api-demo.ipynb", work / "api-demo.ipynb")
    nb = nbformat.read(work / "api-demo.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    nbformat.write(nb, work / "api-demo.ipynb")
    seen.add((work / "api-demo.ipynb").read_text())
    seen.check(secrets_of(emu))
