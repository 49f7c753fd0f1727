"""A new user's first hour, as each rough edge they met became a test: wrong keys, errors named
after the method called, a host without a scheme, ``copy_to_many`` with bare ids, the README's
snippets and commands, and what refusals say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cocalc_widgets import (
    AuthenticationError,
    BadInput,
    CoCalcClient,
    CoCalcConnectionError,
    PermissionDenied,
    copy_to_many,
    wait_all,
)
from cocalc_widgets.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
WRONG_KEY = "sk-WrongWrongWrongWrong12"


@pytest.mark.parametrize("versions", [("v2",), ("v2", "conat"), ("v1", "v2", "conat")])
@pytest.mark.parametrize("api", ["v2", "auto"])
def test_a_wrong_key_is_an_authentication_error(tmp_path, versions, api):
    with Emulator(data_dir=tmp_path / "d", api_versions=versions) as emu:
        a, b = emu.create_project("A"), emu.create_project("B")
        with CoCalcClient(api_key=WRONG_KEY, host=emu.url, api=api) as client:
            with pytest.raises(AuthenticationError) as info:
                client.copy_path_between_projects(a, "f", b)
            assert info.value.endpoint == "copy_path_between_projects"
            with pytest.raises(AuthenticationError):
                client.projects()


@pytest.mark.parametrize(
    ("versions", "call", "method"),
    [
        (("v1", "v2", "conat"), lambda c, e: c.user_auth(e.account_id), "user_auth"),
        (("v1", "v2", "conat"), lambda c, e: c.ping(), "ping"),
        (("v2", "conat"), lambda c, e: c.read_text_file_from_project(e.pa, "x"), "read_text_file_from_project"),
        (("v2",), lambda c, e: c.projects(), "query"),
    ],
)
def test_errors_are_named_after_the_method_called_not_the_probe(tmp_path, versions, call, method):
    with Emulator(data_dir=tmp_path / "d", api_versions=versions) as emu:
        emu.pa = emu.create_project("A")  # type: ignore[attr-defined]
        with CoCalcClient(api_key=WRONG_KEY, host=emu.url) as client, pytest.raises(AuthenticationError) as info:
            call(client, emu)
    err = info.value
    assert err.endpoint == method
    assert str(err).rsplit("[", 1)[1].startswith(method)  # e.g. "[user_auth via v1 ping]"
    assert "copy-path-status" not in str(err)


def test_a_host_without_a_scheme_is_https_and_a_failed_handshake_says_use_http(emulator):
    port = emulator.port
    with CoCalcClient(api_key=emulator.api_key, host=f"127.0.0.1:{port}") as client:
        assert client.host == f"https://127.0.0.1:{port}"
        start = time.monotonic()
        with pytest.raises(CoCalcConnectionError) as info:
            client.ping()
        assert time.monotonic() - start < 2  # not retried for seconds: it cannot get better
        assert client.requests_sent == 1
    text = str(info.value)
    assert "TLS handshake" in text and f"use http://127.0.0.1:{port}" in text
    assert "dropped" not in text


def test_copy_to_many_takes_bare_ids_and_pairs(emulator):
    (emulator.project_path(emulator.pa) / "f.txt").write_text("x")
    with CoCalcClient(api_key=emulator.api_key, host=emulator.url) as client:
        results = copy_to_many(client, emulator.pa, "f.txt", [emulator.pb, (emulator.pc, "in/g.txt")])
        wait_all(client, results, timeout=30)
        assert [r.state for r in results] == ["done", "done"]
        assert (emulator.project_path(emulator.pb) / "f.txt").exists()
        assert (emulator.project_path(emulator.pc) / "in" / "g.txt").exists()
        sent = client.requests_sent
        for targets in (emulator.pb, [42], [(emulator.pb,)], [(emulator.pb, "a", "b")], [(emulator.pb, 3)], None):
            with pytest.raises(BadInput, match="target"):
                copy_to_many(client, emulator.pa, "f.txt", targets)
        with pytest.raises(BadInput, match="labels"):
            copy_to_many(client, emulator.pa, "f.txt", [emulator.pb], labels=["a", "b"])
        assert client.requests_sent == sent


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_fan_out_snippet_runs_as_written(emulator, monkeypatch, capsys):
    (snippet,) = [b for b in _python_blocks(README) if "wait_all(" in b]
    assert "wait_all(client, results" in snippet
    (emulator.project_path(emulator.pa) / "handout").mkdir()
    (emulator.project_path(emulator.pa) / "handout" / "README.md").write_text("# hi")
    monkeypatch.setenv("COCALC_HOST", emulator.url)
    monkeypatch.setenv("COCALC_API_KEY", emulator.api_key)
    names = {"src_project_id": emulator.pa, "student_1": emulator.pb, "student_2": emulator.pc}
    exec(compile(snippet, "README.md", "exec"), names)  # the README's own code
    assert "2 done" in capsys.readouterr().out
    assert (emulator.project_path(emulator.pc) / "work" / "handout" / "README.md").exists()


def test_readme_names_everything_ci_installs_for_the_tests():
    ci = (ROOT / ".ci" / "run").read_text()
    installed = re.findall(r"need\+=\((\w+)\)", ci)
    assert {"chromium", "nodejs"} <= set(installed)
    opening = README.split("---", 1)[0]
    assert "Chromium" in opening and "Node.js" in opening and ".ci/run" in opening
    for package in installed:
        assert package in opening, f".ci/run installs {package}, README's opening does not say so"


def test_readme_gives_the_module_form_of_the_emulator_command_and_it_works():
    assert "python3 -m cocalc_widgets emulator" in README
    out = subprocess.run(
        [sys.executable, "-m", "cocalc_widgets", "emulator", "--help"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0 and "--api-versions" in out.stdout


def test_a_refusal_says_cocalc_said_not_http_200(emulator):
    missing = "00000000-0000-4000-8000-000000000000"
    with CoCalcClient(api_key=emulator.api_key, host=emulator.url, api="v2") as client, pytest.raises(PermissionDenied) as info:
        client.copy_path_between_projects(emulator.pa, "f", missing)
    err = info.value
    assert err.status == 200  # kept on the exception
    assert "CoCalc said: " in str(err) and "HTTP 200" not in str(err)
    assert str(err).endswith("[copy_path_between_projects via v2 projects/copy-path]")


def test_plain_http_to_an_https_server_says_use_https(tmp_path):
    with Emulator(data_dir=tmp_path / "d", tls=True) as emu:
        assert emu.url.startswith("https://")
        plain = "http://" + emu.url.removeprefix("https://")
        with CoCalcClient(api_key=emu.api_key, host=plain) as client:
            start = time.monotonic()
            with pytest.raises(CoCalcConnectionError) as info:
                client.ping()
            assert time.monotonic() - start < 3  # said at once, not after seconds of retries
        assert f"use {emu.url}" in str(info.value) and "speaks https" in str(info.value)
        # and through https, trusting the emulator's throwaway authority, it works
        with CoCalcClient(api_key=emu.api_key, host=emu.url) as client, pytest.raises(CoCalcConnectionError, match=r"verify='ca\.pem'"):
            client.ping()  # the throwaway authority is not trusted by default
        with CoCalcClient(api_key=emu.api_key, host=emu.url, verify=emu.ca_file) as client:
            assert client.ping().now is not None
        with pytest.raises(BadInput, match="loopback"):
            CoCalcClient(api_key=emu.api_key, host="https://cocalc.example", verify=False)
        with pytest.raises(BadInput, match="CA file"):
            CoCalcClient(api_key=emu.api_key, host=emu.url, verify="/no/such/ca.pem")
