"""Shared fixtures: a running emulator with projects, and a plain-``requests`` API helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cocalc_widgets.emulator import Emulator

pytest_plugins = ["pytester"]  # tests/scenarios/test_must_run.py


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run the larger reliability runs (marked slow); or set COCALC_RUN_SLOW=1",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "must_run(env): a skip of this test is a failure when the environment variable env is "
        "set (not empty, not 0); .ci/run sets it where the test must run",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Turn the skip of a ``must_run(env)`` test into a failure where ``env`` is set."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("must_run")
    if marker is None or not report.skipped or hasattr(report, "wasxfail"):
        return
    env = str(marker.args[0])
    if os.environ.get(env, "") in ("", "0"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"this test must run here ({env}={os.environ[env]}), but it skipped: {reason}"


@pytest.fixture(autouse=True)
def _journal_per_test(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's fan-outs journal into a file of their own (never the checkout's folder)."""
    folder = tmp_path_factory.mktemp("journal")
    monkeypatch.setenv("COCALC_WIDGETS_JOURNAL", str(folder / "journal.sqlite"))


def run_slow(config: pytest.Config) -> bool:
    return bool(config.getoption("--run-slow") or os.environ.get("COCALC_RUN_SLOW"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="larger run: use --run-slow (or COCALC_RUN_SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class Api:
    """Tiny helper over plain ``requests`` for the emulator tests (not a client class)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.auth = (emu.api_key, "")

    def v1(self, endpoint: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 10)
        return self.session.post(f"{self.emu.url}/api/v1/{endpoint}", json=body or {}, **kwargs)

    def v2(self, endpoint: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 10)
        return self.session.post(f"{self.emu.url}/api/v2/{endpoint}", json=body or {}, **kwargs)

    def conat(self, bridge: str, body: Any, **kwargs: Any) -> requests.Response:
        """POST ``body`` (JSON) to ``/api/conat/<bridge>``, ``bridge`` being hub or project."""
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 10)
        return self.session.post(f"{self.emu.url}/api/conat/{bridge}", json=body, **kwargs)

    def hub(self, name: str, *args: Any, **body: Any) -> Any:
        """Call a hub method; the decoded reply (a result or ``{"error": ...}``)."""
        return self.conat("hub", {"name": name, "args": list(args), **body}).json()

    def project(self, project_id: str, name: str, *args: Any, **body: Any) -> Any:
        """Call a project method; the decoded reply (a result or ``{"error": ...}``)."""
        payload = {"project_id": project_id, "name": name, "args": list(args), **body}
        return self.conat("project", payload).json()


@pytest.fixture
def emulator(tmp_path) -> Iterator[Emulator]:
    """An emulator on 127.0.0.1 (free port) over ``tmp_path/data`` with projects A, B and C.

    Their ids are ``emulator.pa``, ``emulator.pb``, ``emulator.pc``; stopped at teardown.
    """
    emu = Emulator(data_dir=tmp_path / "data", host="127.0.0.1", port=0)
    emu.pa = emu.create_project("Project A")  # type: ignore[attr-defined]
    emu.pb = emu.create_project("Project B")  # type: ignore[attr-defined]
    emu.pc = emu.create_project("Project C")  # type: ignore[attr-defined]
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def api(emulator: Emulator) -> Api:
    return Api(emulator)


@pytest.fixture
def magic_shell(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Any]:
    """``magic_shell(host, api_key)``: an IPython shell with the ``%cocalc_*`` magics loaded
    (no progress bars), in ``tmp_path``, whose client goes to ``host`` with ``api_key`` (the
    environment variables the magics read); unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    def make(host: str, api_key: str) -> Any:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("COCALC_HOST", host)
        monkeypatch.setenv("COCALC_API_KEY", api_key)
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "cocalc_widgets")
        ip.run_line_magic("config", "CoCalcMagics.progress = False")
        return ip

    yield make
    shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
    if shell is not None:
        shell.run_line_magic("unload_ext", "cocalc_widgets")
        InteractiveShell.clear_instance()
