"""The command line: ``python -m cocalc_widgets.emulator`` / ``cocalc-widgets emulator``."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
import requests
from _running import start_command

from cocalc_widgets.cli import build_parser


def test_parser_has_every_flag():
    args = build_parser().parse_args([
        "emulator", "--host", "127.0.0.1", "--port", "0", "--data", "d", "--api-key", "k",
        "--iframe-comm-hosts", "a.com .b.org", "--dev-http-origins", "http://localhost:8888",
        "--copy-delay", "0.5", "--allow-exec", "--latency", "0.1", "--fail-rate", "0.1",
        "--drop-rate", "0.1", "--gateway-timeout-rate", "0.1", "--rate-limit-rate", "0.1",
        "--retry-after", "2", "--seed", "3", "--max-body", "100", "--no-sign-in", "--demo",
        "--no-site-admin", "--api-versions", "v2, conat",
    ])
    assert args.command == "emulator" and args.copy_delay == 0.5 and args.allow_exec
    assert args.seed == 3 and args.max_body == 100 and args.no_sign_in and args.demo
    assert args.no_site_admin and args.api_versions == ("v2", "conat")
    assert build_parser().parse_args(["emulator"]).api_versions == ("v1", "v2", "conat")


def test_unknown_api_version_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["emulator", "--api-versions", "v2,v3"])
    assert exit_info.value.code == 2
    assert "unknown API version 'v3': choose any of v1, v2, conat" in capsys.readouterr().err


def test_module_runs_prints_credentials_and_stops_on_sigterm(tmp_path):
    proc, text = start_command(
        "cocalc_widgets.emulator", "--port", "0", "--data", str(tmp_path), "--api-key",
        "sk-clitestkey", "--demo", "--copy-delay", "0", timeout=20, stderr=subprocess.PIPE,
    )
    try:
        url = re.search(r"running at (http://127\.0\.0\.1:\d+)", text).group(1)
        assert "sk-clitestkey" in text and "account id:" in text and "password:" in text
        assert "'Instructor'" in text and "'Student 5'" in text
        account = re.search(r"account id: ([0-9a-f-]{36})", text).group(1)
        # A shell line with every variable README's examples and the notebooks read.
        assert f"export COCALC_HOST={url} COCALC_API_KEY=sk-clitestkey COCALC_ACCOUNT_ID={account}\n" in text
        assert "site admin: yes" in text and "APIs:       v1, v2, conat" in text
        accounts = dict(re.findall(r"account '(Student \d)': ([0-9a-f-]{36}) \(org demo\)", text))
        assert sorted(accounts) == [f"Student {i}" for i in range(1, 6)]
        r = requests.post(f"{url}/api/v1/query", auth=("sk-clitestkey", ""), timeout=5,
                          json={"query": {"projects": [{"project_id": None, "title": None}]}})
        titles = {p["title"] for p in r.json()["query"]["projects"]}
        assert {"Instructor", "Student 1", "Student 5"} <= titles
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    handout = list(tmp_path.glob("*/handout/homework1.ipynb"))
    assert len(handout) == 1
