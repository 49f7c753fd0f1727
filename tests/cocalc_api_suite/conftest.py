"""Fixtures for CoCalc's own ``cocalc-api`` test suite, run unchanged against the emulator.

``run.py`` beside this file downloads cocalc-api's sdist, copies this file into its ``tests/``
as ``conftest.py`` (the sdist ships none) and runs pytest there. It provides what those tests
import from their conftest (``assert_valid_uuid``, ``cleanup_project``, ``create_tracked_*``,
``retry_with_backoff``) and the fixtures they use (``api_key``, ``cocalc_host``, ``hub``,
``temporary_project``, ``project_client``, ``resource_tracker``, and the session clean-up), the
way upstream's conftest does, but against ``cocalc-widgets emulator --allow-exec --demo
--api-versions v2,conat`` (a subprocess, like cocalc.com) instead of a live CoCalc with a
database. Upstream's hard deletes through PostgreSQL become the API's stop and delete.

Here in this repository pytest loads this file as the conftest of a folder without tests: it
defines fixtures, starts nothing, and imports cocalc-api only inside them (so a run without the
test extra still collects).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from cocalc_api import Hub, Project

T = TypeVar("T")


# -- what cocalc-api's tests import from their conftest ----------------------------------------
def retry_with_backoff(
    func: Callable[[], T],
    max_retries: int = 3,
    retry_delay: int = 5,
    error_condition: Callable[[RuntimeError], bool] = lambda e: any(
        word in str(e).lower() for word in ("timeout", "closed", "connection", "reset", "broken")
    ),
) -> T:
    """``func()``, tried again after ``retry_delay`` s on a transient ``RuntimeError``."""
    for attempt in range(max_retries):
        try:
            return func()
        except RuntimeError as err:
            if error_condition(err) and attempt < max_retries - 1:
                time.sleep(retry_delay)
            else:
                raise
    raise RuntimeError("Retry loop exhausted without returning")


def assert_valid_uuid(value: Any, description: str = "value") -> None:
    """``value`` is a non-empty string holding a UUID."""
    assert isinstance(value, str), f"{description} should be a string, got {type(value)}"
    assert len(value) > 0, f"{description} should not be empty"
    try:
        uuid.UUID(value)
    except ValueError:
        pytest.fail(f"{description} should be a valid UUID, got: {value}")


def cleanup_project(hub: Hub, project_id: str) -> None:
    """Stop, then delete a project (warnings only)."""
    for step in (hub.projects.stop, hub.projects.delete):
        try:
            step(project_id)
        except Exception as err:
            print(f"Warning: {step.__name__} of project {project_id} failed: {err}")


def create_tracked_project(hub: Hub, resource_tracker: dict, **kwargs: Any) -> str:
    """Create a project and register it for clean-up."""
    project_id = hub.projects.create_project(**kwargs)
    resource_tracker["projects"].add(project_id)
    return project_id


def create_tracked_user(hub: Hub, resource_tracker: dict, org_name: str, **kwargs: Any) -> str:
    """Create an account in an organisation and register it for clean-up."""
    user_id = hub.org.create_user(name=org_name, **kwargs)
    resource_tracker["accounts"].add(user_id)
    return user_id


def create_tracked_org(hub: Hub, resource_tracker: dict, org_name: str) -> str:
    """Create an organisation and register it for clean-up."""
    org_id = hub.org.create(org_name)
    resource_tracker["organizations"].add(org_name)
    return org_id


# -- the emulator --------------------------------------------------------------------------------
def _start_emulator(data: Path, log: Path) -> tuple[subprocess.Popen, str, str]:
    """``cocalc-widgets emulator`` in a subprocess; its process, URL and API key."""
    out = log.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cocalc_widgets",
            "emulator",
            "--port",
            "0",
            "--data",
            str(data),
            "--allow-exec",
            "--demo",
            "--api-versions",
            "v2,conat",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text()
        if "Press Ctrl-C" in text:
            url = re.search(r"running at (http://\S+)", text)
            key = re.search(r"API key:\s+(\S+)", text)
            assert url and key, text
            return proc, url.group(1), key.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the emulator did not start:\n{log.read_text()}")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(url, api_key)`` of an emulator for the session; stopped (SIGTERM) at its end."""
    root = tmp_path_factory.mktemp("emulator")
    proc, url, key = _start_emulator(root / "data", root / "emulator.log")
    try:
        yield url, key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def api_key(emulator: tuple[str, str]) -> str:
    """The emulator's API key (an account key of a site admin, as upstream's CI makes)."""
    return emulator[1]


@pytest.fixture(scope="session")
def cocalc_host(emulator: tuple[str, str]) -> str:
    """The emulator's URL."""
    return emulator[0]


@pytest.fixture(scope="session")
def hub(api_key: str, cocalc_host: str) -> Hub:
    """A ``Hub`` client of the emulator."""
    from cocalc_api import Hub

    return Hub(api_key=api_key, host=cocalc_host)


@pytest.fixture(scope="session")
def resource_tracker() -> dict[str, set]:
    """Projects, accounts and organisations the tests made."""
    return {"projects": set(), "accounts": set(), "organizations": set()}


@pytest.fixture(scope="session")
def temporary_project(hub: Hub, resource_tracker: dict) -> dict[str, str]:
    """One project for the session, started and answering pings."""
    title = f"CoCalc API Test {time.strftime('%Y%m%d-%H%M%S')}"
    description = "Temporary project created by cocalc-api tests"
    project_id = create_tracked_project(hub, resource_tracker, title=title, description=description)
    hub.projects.start(project_id)
    from cocalc_api import Project

    project = Project(project_id=project_id, api_key=hub.api_key, host=hub.host)
    deadline = time.monotonic() + 60
    while True:
        try:
            project.system.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return {"project_id": project_id, "title": title, "description": description}


@pytest.fixture(scope="session")
def project_client(temporary_project: dict, api_key: str, cocalc_host: str) -> Project:
    """A ``Project`` client of the temporary project."""
    from cocalc_api import Project

    return Project(project_id=temporary_project["project_id"], api_key=api_key, host=cocalc_host)


_JUPYTER_CLASSES = {
    "TestJupyterExecuteViaHub",
    "TestJupyterExecuteViaProject",
    "TestJupyterKernelManagement",
}


@pytest.fixture(autouse=True)
def cleanup_kernels_after_test(
    request: pytest.FixtureRequest, project_client: Project
) -> Iterator[None]:
    """After a Jupyter test, stop all but the two newest kernels when more than three run."""
    yield
    if request.cls is None or request.cls.__name__ not in _JUPYTER_CLASSES:
        return
    try:
        kernels = project_client.system.list_jupyter_kernels()
        if len(kernels) > 3:
            for kernel in sorted(kernels, key=lambda k: k.get("pid", 0))[:-2]:
                project_client.system.stop_jupyter_kernel(pid=kernel["pid"])
    except Exception:
        pass


@pytest.fixture(scope="session", autouse=True)
def cleanup_all_test_resources(hub: Hub, resource_tracker: dict) -> Iterator[None]:
    """At the session's end, stop and delete the projects the tests made."""
    yield
    for project_id in list(resource_tracker["projects"]):
        cleanup_project(hub, project_id)


@pytest.fixture(scope="session", autouse=True)
def cleanup_jupyter_kernels_session(project_client: Project) -> Iterator[None]:
    """At the session's end, stop the temporary project's kernels."""
    yield
    try:
        for kernel in project_client.system.list_jupyter_kernels():
            project_client.system.stop_jupyter_kernel(pid=kernel.get("pid"))
    except Exception as err:
        print(f"Warning: Failed to clean up jupyter kernels: {err}")
