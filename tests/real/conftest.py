"""Fixtures for the tests against a real CoCalc built from source (``tools/real-cocalc``).

Every test here is skipped, with the command to run, unless the env file of
``tools/real-cocalc start`` exists and the hub answers its ``/healthcheck``.
The projects they use are created once per session, with titles unique to the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from _real_server import server

from cocalc_widgets import CoCalcClient


@pytest.fixture(scope="session")
def real() -> dict[str, str]:
    env, why = server()
    if env is None:
        pytest.skip(why)
    return env


@pytest.fixture(autouse=True)
def _needs_real(real: dict[str, str]) -> None:
    """Every test in tests/real needs the server (skipped otherwise, with the reason)."""


@pytest.fixture(scope="session")
def make_client(real: dict[str, str]) -> Iterator[Callable[..., CoCalcClient]]:
    made: list[CoCalcClient] = []

    def make(api: str = "auto", **kw: Any) -> CoCalcClient:
        kw.setdefault("api_key", real["COCALC_API_KEY"])
        kw.setdefault("host", real["COCALC_HOST"])
        client = CoCalcClient(api=api, **kw)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def setup_client(make_client: Callable[..., CoCalcClient]) -> CoCalcClient:
    """The client that makes the session's projects and files (conat: it can read too)."""
    return make_client("conat")


@pytest.fixture(scope="session")
def token() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def src_project(setup_client: CoCalcClient, token: str) -> str:
    pid = setup_client.create_project(title=f"cw-real src {token}", start=True)
    setup_client.write_text_file_to_project(pid, "handout/README.md", "# hand-out\n")
    setup_client.write_text_file_to_project(pid, "handout/data.csv", "a,b\n1,2\n")
    return pid


@pytest.fixture(scope="session")
def targets(setup_client: CoCalcClient, token: str) -> list[tuple[str, str]]:
    """Three target projects: ``(project_id, title)``."""
    out = []
    for i in (1, 2, 3):
        title = f"cw-real target{i} {token}"
        out.append((setup_client.create_project(title=title, start=True), title))
    return out


@pytest.fixture(scope="session")
def stranger_project(real: dict[str, str], token: str) -> str:
    """A project of another account, which the key's owner is no collaborator of: an account
    signed up through CoCalc's own sign-up route, its project created with its cookie."""
    s = requests.Session()
    host = real["COCALC_HOST"]
    email = f"stranger-{token}@example.com"
    r = s.post(
        f"{host}/api/v2/auth/sign-up",
        json={
            "email": email,
            "password": "stranger-password-1",
            "firstName": "Stranger",
            "lastName": token,
            "terms": True,
        },
        timeout=60,
    )
    if r.status_code != 200 or "error" in r.json():
        pytest.fail(f"signing up a second account failed: HTTP {r.status_code} {r.text[:300]}")
    r = s.post(f"{host}/api/v2/projects/create", json={"title": f"stranger {token}"}, timeout=60)
    body = r.json()
    if r.status_code != 200 or "project_id" not in body:
        pytest.fail(f"creating the stranger's project failed: HTTP {r.status_code} {r.text[:300]}")
    return str(body["project_id"])
