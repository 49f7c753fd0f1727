"""Every public method of ``CoCalcClient`` against a real CoCalc (``tools/real-cocalc``), on
each API generation the server has (``api="v2"``, ``"conat"``) and ``api="auto"``.

A method a pinned generation lacks must be a ``BadInput`` raised before anything is sent
(README's table "Which server answers what").
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest
import requests
from _real_server import APIS

from cocalc_widgets import BadInput, CoCalcClient, CopyJob

pytestmark = pytest.mark.real_cocalc

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(make_client, api) -> CoCalcClient:
    return make_client(api)


def lacks(api: str, *pinned_without: str) -> bool:
    return api in pinned_without


def test_the_server_speaks_conat_and_v2_not_v1(make_client, real):
    client = make_client("auto")
    assert client.api_versions == ("conat", "v2")
    assert client.detect_api() in ("conat", "v2")
    assert requests.post(real["COCALC_HOST"] + "/api/v1/ping", timeout=10).status_code == 404


def test_ping(client, api):
    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="ping"):
            client.ping()
        return
    sent = client.requests_sent
    pong = client.ping()
    assert isinstance(pong.now, datetime)
    assert abs((pong.now - datetime.now(timezone.utc)).total_seconds()) < 60
    assert 0 <= pong.latency < 30
    assert client.requests_sent > sent
    assert abs(client.clock_skew) < 60


def test_create_project_and_list_it(client, api, token):
    title = f"cw-real created-by-{api} {token}"
    pid = client.create_project(title=title, description="from tests/real")
    assert isinstance(pid, str)
    uuid.UUID(pid)
    titles = {p["project_id"]: p.get("title") for p in client.projects()}
    assert titles.get(pid) == title


def test_write_then_read_a_text_file(client, api, src_project, setup_client):
    path = f"rw/{api}/note.txt"
    text = f"written through {api}: é ✓ {uuid.uuid4()}\n"
    client.write_text_file_to_project(src_project, path, text)
    assert setup_client.read_text_file_from_project(src_project, path) == text
    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="read_text_file_from_project"):
            client.read_text_file_from_project(src_project, path)
    else:
        assert client.read_text_file_from_project(src_project, path) == text


def test_list_files(client, api, src_project):
    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="list_files"):
            client.list_files(src_project)
        return
    home = {e.name: e for e in client.list_files(src_project)}
    assert home["handout"].isdir
    inside = {e.name: e for e in client.list_files(src_project, "handout")}
    assert set(inside) >= {"README.md", "data.csv"}
    assert not inside["README.md"].isdir and inside["README.md"].size == len("# hand-out\n")
    assert inside["README.md"].mtime is not None


def test_project_exec(client, api, src_project):
    out = client.project_exec(src_project, "echo", args=["hello", "real"])
    assert out.stdout == "hello real\n" and out.exit_code == 0
    out = client.project_exec(src_project, "pwd; echo oops >&2", bash=True, path="handout")
    assert out.stdout.strip().endswith("/handout") and out.stderr == "oops\n"
    out = client.project_exec(src_project, "exit 3", bash=True, err_on_exit=False)
    assert out.exit_code == 3


def test_copy_a_folder_and_wait(client, api, src_project, targets, setup_client):
    target = targets[0][0]
    job = client.copy_path_between_projects(src_project, "handout", target, f"copied-{api}")
    assert isinstance(job, CopyJob)
    status = job.wait(timeout=120)
    assert status.ok and status.done
    assert (
        setup_client.read_text_file_from_project(target, f"copied-{api}/README.md")
        == "# hand-out\n"
    )


def test_copy_path_status_by_id(client, api, src_project, targets):
    job = client.copy_path_between_projects(src_project, "handout/data.csv", targets[1][0])
    assert job.wait(timeout=120).ok
    if lacks(api, "conat"):
        with pytest.raises(BadInput, match="copy_path_status"):
            client.copy_path_status(str(uuid.uuid4()))
        return
    if job.copy_path_id:  # a KuCalc server gives an id; single-user CoCalc copies at once
        assert client.copy_path_status(job.copy_path_id).ok


def test_copy_search_and_delete_are_v1_only(client, api, src_project):
    with pytest.raises(BadInput, match="copy_path_status"):
        client.copy_path_status(src_project_id=src_project)
    with pytest.raises(BadInput, match="copy_path_delete"):
        client.copy_path_delete(str(uuid.uuid4()))


def test_user_auth_and_revoke(client, api, real):
    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="user_auth"):
            client.user_auth(real["COCALC_ACCOUNT_ID"])
        with pytest.raises(BadInput, match="revoke_auth_token"):
            client.revoke_auth_token("x" * 24)
        return
    token = client.user_auth(real["COCALC_ACCOUNT_ID"])
    assert len(token) == 24 and str(token) not in repr(token)
    # CoCalc answers 200 with a page whose script goes on to /app (to "https:/app" when the
    # dns site setting is empty), having set the sign-in cookies.
    signed_in = requests.get(
        f"{real['COCALC_HOST']}/auth/impersonate",
        params={"auth_token": str(token)},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 200 and "remember_me" in signed_in.cookies
    assert signed_in.cookies["account_id"] == real["COCALC_ACCOUNT_ID"]
    assert client.revoke_auth_token(str(token)) is None


def test_create_token_needs_an_organization(client, api, real):
    from cocalc_widgets import CoCalcError

    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="create_token"):
            client.create_token(real["COCALC_ACCOUNT_ID"])
        return
    with pytest.raises(CoCalcError, match="not in an org") as info:
        client.create_token(real["COCALC_ACCOUNT_ID"])
    assert info.value.endpoint == "create_token"


def test_query_reads_ones_account(client, api):
    result = client.query({"accounts": {"first_name": None, "last_name": None}})
    assert result["accounts"] == {"first_name": "CI", "last_name": "Admin"}


def test_query_writes_a_project_title(client, api, src_project, token):
    title = f"cw-real src {token}"
    assert client.query({"projects": {"project_id": src_project, "title": title}}) is not None
    rows = client.query({"projects": [{"project_id": src_project, "title": None}]})["projects"]
    assert rows[0]["title"] == title


def test_call_any_v2_endpoint(client, api):
    if api == "conat":
        with pytest.raises(BadInput, match="call_hub"):
            client.call("user-query", query={"accounts": {"first_name": None}})
        return
    body = client.call("user-query", query={"accounts": {"first_name": None}})
    assert body["query"]["accounts"]["first_name"] == "CI"


def test_call_hub_and_call_project(client, api, real, src_project):
    if lacks(api, "v2"):
        with pytest.raises(BadInput, match="call_hub"):
            client.call_hub("system.ping")
        with pytest.raises(BadInput, match="call_project"):
            client.call_project(src_project, "system.ping")
        return
    info = client.call_hub("system.test", {})
    assert info["account_id"] == real["COCALC_ACCOUNT_ID"]
    assert isinstance(client.call_hub("system.ping")["now"], int)
    assert isinstance(client.call_project(src_project, "system.ping")["now"], int)


def test_close_and_context_manager(real, api):
    with CoCalcClient(api_key=real["COCALC_API_KEY"], host=real["COCALC_HOST"], api=api) as c:
        detected = c.detect_api()
        assert c.api == (api if api != "auto" else detected)
        assert real["COCALC_API_KEY"] not in repr(c)
    c.close()  # twice is fine


def test_copy_over_https_with_the_throwaway_authority(real, src_project, targets, setup_client):
    if not real.get("COCALC_HTTPS_HOST"):
        pytest.skip("the env file has no https host")
    with CoCalcClient(
        api_key=real["COCALC_API_KEY"],
        host=real["COCALC_HTTPS_HOST"],
        verify=real["COCALC_CA_FILE"],
    ) as c:
        assert c.api_versions == ("conat", "v2")
        stamp = str(time.time())
        c.write_text_file_to_project(src_project, "https/stamp.txt", stamp)
        assert (
            c.copy_path_between_projects(src_project, "https", targets[2][0]).wait(timeout=120).ok
        )
        assert setup_client.read_text_file_from_project(targets[2][0], "https/stamp.txt") == stamp
