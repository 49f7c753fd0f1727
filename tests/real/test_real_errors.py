"""Each typed error, with CoCalc's real text, on each generation the server has.

Where the client is wrong against the real server the test asserts what a user should get and
is marked ``xfail(strict=True)`` with the discrepancy.
"""

from __future__ import annotations

import re
import secrets
import string

import pytest
import requests
from _real_server import APIS

from cocalc_widgets import (
    AuthenticationError,
    BadInput,
    CoCalcError,
    NotFound,
    PermissionDenied,
)

pytestmark = pytest.mark.real_cocalc


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(make_client, api):
    return make_client(api)


def wrong_key() -> str:
    return "sk-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))


# -- a stranger's project -------------------------------------------------------------------------


def test_copy_to_a_strangers_project(client, api, src_project, stranger_project):
    """v2: "must be a collaborator on target project"; conat: "user must be collaborator on
    target project" (CoCalc's two texts)."""
    with pytest.raises(PermissionDenied) as info:
        client.copy_path_between_projects(src_project, "handout", stranger_project).wait(timeout=60)
    assert re.search(r"must be (a )?collaborator on target project", str(info.value))
    assert info.value.endpoint == "copy_path_between_projects"


def test_copy_from_a_strangers_project(client, api, src_project, stranger_project):
    with pytest.raises(PermissionDenied) as info:
        client.copy_path_between_projects(stranger_project, "x.txt", src_project).wait(timeout=60)
    assert re.search(r"must be (a )?collaborator on source project", str(info.value))
    assert info.value.endpoint == "copy_path_between_projects"


def test_write_to_a_strangers_project(client, api, stranger_project):
    with pytest.raises(PermissionDenied, match="collaborator"):
        client.write_text_file_to_project(stranger_project, "intrusion.txt", "hi")


def test_exec_in_a_strangers_project(client, api, stranger_project):
    with pytest.raises(PermissionDenied, match="collaborator"):
        client.project_exec(stranger_project, "true")


def test_read_and_list_a_strangers_project(make_client, stranger_project):
    client = make_client("conat")
    with pytest.raises(PermissionDenied, match="collaborator"):
        client.read_text_file_from_project(stranger_project, "README.md")
    with pytest.raises(PermissionDenied, match="collaborator"):
        client.list_files(stranger_project)


# -- a missing file -------------------------------------------------------------------------------


def test_read_a_missing_file(make_client, src_project):
    client = make_client("conat")
    with pytest.raises(NotFound) as info:
        client.read_text_file_from_project(src_project, "no/such/file.txt")
    assert "ENOENT" in str(info.value) or "no such file" in str(info.value).lower()
    assert info.value.endpoint == "read_text_file_from_project"


def test_list_a_missing_folder(make_client, src_project):
    with pytest.raises(NotFound):
        make_client("conat").list_files(src_project, "no/such/folder")


def test_copy_a_missing_file(client, api, src_project, targets):
    """CoCalc answers "ENOENT: no such file or directory, stat '<its path>'" on v2 (to the
    request) and conat (as the bridge call's error): a ``NotFound`` naming the method called,
    whichever generation ran it."""
    with pytest.raises(NotFound) as info:
        client.copy_path_between_projects(src_project, "no-such-file.txt", targets[0][0]).wait(
            timeout=60
        )
    assert "ENOENT" in str(info.value) and "no-such-file.txt" in str(info.value)
    assert info.value.endpoint == "copy_path_between_projects"


def test_exec_that_fails(client, api, src_project):
    with pytest.raises(CoCalcError) as info:
        client.project_exec(src_project, "echo oops >&2; exit 42", bash=True)
    assert "exited with nonzero code 42" in str(info.value) and "oops" in str(info.value)
    assert info.value.endpoint == "project_exec"


# -- a wrong key ----------------------------------------------------------------------------------


def test_a_wrong_key(make_client, api, src_project):
    client = make_client(api, api_key=wrong_key())
    with pytest.raises(AuthenticationError) as info:
        client.write_text_file_to_project(src_project, "x.txt", "x")
    # CoCalc's texts: v2 "must be authenticated"; the conat project bridge "must sign in as
    # project or account".
    assert re.search(r"must be authenticated|must sign in as project or account", str(info.value))
    with pytest.raises(AuthenticationError, match="signed in"):  # v2: "user must be signed in"
        client.create_project(title="never")
    with pytest.raises(AuthenticationError, match="refused the API key"):  # v2: an anonymous query
        client.projects()


def test_a_wrong_key_copy(make_client, api, src_project):
    """v2 refuses the key at once; the conat bridge when the copy ends (``CopyKeyRefused``):
    an ``AuthenticationError`` naming the method called either way."""
    client = make_client(api, api_key=wrong_key())
    with pytest.raises(AuthenticationError) as info:
        client.copy_path_between_projects(src_project, "handout", src_project, "h2").wait(
            timeout=60
        )
    assert info.value.endpoint == "copy_path_between_projects"


def test_a_wrong_key_on_conat_reads(make_client, src_project):
    client = make_client("conat", api_key=wrong_key())
    with pytest.raises(AuthenticationError, match="MUST provide an api key"):
        client.ping()
    with pytest.raises(AuthenticationError, match="must sign in as project or account"):
        client.read_text_file_from_project(src_project, "handout/README.md")


def test_no_key_on_the_bridge(real):
    r = requests.post(
        real["COCALC_HOST"] + "/api/conat/hub", json={"name": "system.ping", "args": []}, timeout=30
    )
    assert r.status_code == 200
    assert r.json() == {"error": "You must provide authentication via an API key."}


# -- names the server does not know ---------------------------------------------------------------


def test_an_unknown_conat_function(make_client, src_project):
    client = make_client("conat")
    with pytest.raises(NotFound) as info:
        client.call_hub("system.noSuchThing")
    assert "unknown function 'system.noSuchThing'" in str(info.value)


def test_an_unknown_v2_endpoint(make_client):
    with pytest.raises(NotFound):
        make_client("v2").call("projects/no-such-endpoint")


def test_a_v2_parameter_error(make_client, src_project):
    """v2's own parameter check ("path must be specified") is a ``BadInput``."""
    with pytest.raises(BadInput, match="must be"):
        make_client("v2").call(
            "projects/copy-path", src_project_id=src_project, target_project_id=src_project
        )


def test_a_pinned_generation_the_server_lacks(real):
    from cocalc_widgets import CoCalcClient

    with (
        CoCalcClient(api_key=real["COCALC_API_KEY"], host=real["COCALC_HOST"], api="v1") as c,
        pytest.raises(NotFound),
    ):
        c.ping()
