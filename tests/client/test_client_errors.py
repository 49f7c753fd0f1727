"""Error paths and retries of the client (mocked HTTP), and key and host resolution."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from responses import registries

from cocalc_widgets import (
    AuthenticationError,
    BadInput,
    CoCalcClient,
    CoCalcConnectionError,
    CoCalcError,
    CopyFailed,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
)

HOST = "https://cocalc.example"
KEY = "sk-SecretSecretSecret1234"
SRC = "8e3c6a6e-1d4b-4a5a-9d0c-0f3a2b1c4d5e"
DST = "0b9d8c7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
COPY = "65cd2079-098d-4147-bb54-12d44cebb8cb"
GATEWAY_504 = "<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>"


def client(api="v1", **kw) -> CoCalcClient:
    kw.setdefault("retries", 3)
    c = CoCalcClient(api_key=KEY, host=HOST, api=api, **kw)
    c._transport.retry = type(c._transport.retry)(
        retries=kw["retries"],
        backoff=0.001,
        backoff_max=0.01,
        jitter=0.0,
        deadline=5.0,
        retry_after_max=2.0,
    )
    return c


def no_key_anywhere(err: BaseException) -> None:
    assert KEY not in str(err) and KEY not in repr(err)
    assert KEY not in repr(vars(err))


@pytest.mark.parametrize(
    ("status", "body", "cls", "text"),
    [
        (
            200,
            {
                "event": "error",
                "id": "1",
                "error": "ACCESS BLOCKED -- No write access to target project -- x",
            },
            PermissionDenied,
            "ACCESS BLOCKED",
        ),
        (
            400,
            {"error": "You must provide authentication via an API key."},
            AuthenticationError,
            "You must provide authentication",
        ),
        (400, {"error": "unknown endpoint 'nope'"}, NotFound, "unknown endpoint"),
        (
            400,
            {
                "error": "invalid parameters 'Error: misc.defaults -- TypeError: got an unexpected argument 'zz' '"
            },
            BadInput,
            "unexpected argument 'zz'",
        ),
        (
            200,
            {"event": "error", "id": "1", "error": "something odd happened"},
            CoCalcError,
            "something odd happened",
        ),
        (404, "<html>Not Found</html>", NotFound, "Not Found"),
        (401, {"error": "bad key"}, AuthenticationError, "bad key"),
        (200, {"event": "error", "id": "1", "error": "ILLEGAL VALUE limit='5000' (must be in [0, 1000])"}, BadInput, "ILLEGAL VALUE"),
        (200, {"event": "error", "id": "1", "error": "ENOENT: no such file or directory, open 'a'"}, NotFound, "ENOENT"),
    ],
)
def test_errors_are_typed_and_carry_the_server_text(status, body, cls, text):
    with responses.RequestsMock() as rsps:
        kw = {"json": body} if isinstance(body, dict) else {"body": body}
        rsps.post(f"{HOST}/api/v1/write_text_file_to_project", status=status, **kw)
        with pytest.raises(cls) as info:
            client().write_text_file_to_project(SRC, "a", "x")
        err = info.value
        assert text in str(err)
        assert err.endpoint == "write_text_file_to_project" and err.status == status
        assert err.server_message and text in err.server_message
        no_key_anywhere(err)
        assert len(rsps.calls) == 1  # a write is not re-sent


def test_v2_error_in_a_200_body_raises():
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v2/projects/copy-path",
            json={"error": "not a collaborator on the target project"},
        )
        with pytest.raises(PermissionDenied, match="not a collaborator"):
            client("v2").copy_path_between_projects(SRC, "a", DST)


def test_html_504_on_a_read_is_retried_then_a_server_error():
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v1/copy_path_status",
            status=504,
            body=GATEWAY_504,
            content_type="text/html",
        )
        with pytest.raises(ServerError) as info:
            client(retries=2).copy_path_status(COPY)
        assert "504 Gateway Time-out" in str(info.value) and info.value.status == 504
        assert len(rsps.calls) == 3


def test_html_504_on_a_copy_is_outcome_unknown_and_never_resent_blindly():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v1/copy_path_between_projects", status=504, body=GATEWAY_504)
        # The client looks the copy up instead; here CoCalc has no record of it.
        rsps.post(
            f"{HOST}/api/v1/copy_path_status",
            json={"event": "copy_path_status_response", "id": "1", "data": []},
        )
        with pytest.raises(OutcomeUnknown, match="no record"):
            client().copy_path_between_projects(SRC, "a", DST)
        sent = [c.request.url.rsplit("/", 1)[1] for c in rsps.calls]
        # one search for unfinished copies, one for finished ones (CoCalc's filter is either/or)
        assert sent == ["copy_path_between_projects", "copy_path_status", "copy_path_status"]
        assert [json.loads(c.request.body)["pending"] for c in rsps.calls[1:]] == [True, False]


def test_a_lost_copy_reply_is_reconciled_through_copy_path_status():
    record = {
        "copy_path_id": COPY,
        "time": "2099-01-01T00:00:00Z",
        "source_project_id": SRC,
        "source_path": "a",
        "target_project_id": DST,
        "target_path": "a",
        "started": None,
        "finished": None,
    }
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            body=requests.ConnectionError("Connection aborted."),
        )
        rsps.post(
            f"{HOST}/api/v1/copy_path_status",
            json={"event": "copy_path_status_response", "id": "1", "data": [record]},
        )
        job = client().copy_path_between_projects(SRC, "a", DST)
        assert job.copy_path_id == COPY
        assert [c.request.url.rsplit("/", 1)[1] for c in rsps.calls] == [
            "copy_path_between_projects",
            "copy_path_status",
            "copy_path_status",
        ]
        assert job.last_status is not None and job.last_status.copy_path_id == COPY


def test_read_only_calls_retry_a_dropped_connection():
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        rsps.post(
            f"{HOST}/api/v1/read_text_file_from_project", body=requests.ConnectionError("reset")
        )
        rsps.post(
            f"{HOST}/api/v1/read_text_file_from_project",
            json={"event": "text_file_read_from_project", "id": "1", "content": "ok"},
        )
        assert client().read_text_file_from_project(SRC, "a") == "ok"
        assert len(rsps.calls) == 2


def test_429_is_retried_honouring_retry_after_then_succeeds():
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            status=429,
            json={"error": "slow down"},
            headers={"Retry-After": "0"},
        )
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            status=503,
            body="busy",
            headers={"Retry-After": "0"},
        )
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            json={"event": "copy_path_between_projects_response", "id": "x", "copy_path_id": COPY},
        )
        assert client().copy_path_between_projects(SRC, "a", DST).copy_path_id == COPY
        assert len(rsps.calls) == 3


def test_429_beyond_the_retry_after_cap_is_rate_limited():
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v1/ping",
            status=429,
            json={"error": "slow down"},
            headers={"Retry-After": "3600"},
        )
        with pytest.raises(RateLimited) as info:
            client().ping()
        assert info.value.retry_after == 3600 and "slow down" in str(info.value)
        assert len(rsps.calls) == 1


def test_connection_refused_is_retried_then_a_connection_error():
    with responses.RequestsMock() as rsps:
        from urllib3.exceptions import NewConnectionError

        err = requests.ConnectionError(NewConnectionError(None, "refused"))
        rsps.post(f"{HOST}/api/v1/copy_path_between_projects", body=err)
        with pytest.raises(CoCalcConnectionError, match="nothing was sent") as info:
            client(retries=2).copy_path_between_projects(SRC, "a", DST)
        assert len(rsps.calls) == 3  # safe to retry: the connection was never made
        no_key_anywhere(info.value)


def test_non_json_200_never_crashes():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{HOST}/api/v1/copy_path_status", body="<html>login page</html>")
        with pytest.raises(ServerError, match="not JSON"):
            client(retries=0).copy_path_status(COPY)


def test_failed_synchronous_copy_raises_copy_failed():
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v1/copy_path_between_projects",
            json={"event": "error", "id": "1", "error": "rsync: link_stat failed"},
        )
        with pytest.raises(CopyFailed, match="link_stat"):
            client().copy_path_between_projects(SRC, "a", DST, wait_until_done=True)


def test_key_resolution_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COCALC_API_KEY", raising=False)
    monkeypatch.delenv("COCALC_HOST", raising=False)
    with pytest.raises(AuthenticationError, match="COCALC_API_KEY"):
        CoCalcClient()
    (tmp_path / "api.key").write_text("sk-fromfile0000000000000\n")
    assert CoCalcClient()._transport.session.auth == ("sk-fromfile0000000000000", "")
    monkeypatch.setenv("COCALC_API_KEY", "sk-fromenv00000000000000")
    assert CoCalcClient()._transport.session.auth == ("sk-fromenv00000000000000", "")
    assert CoCalcClient(api_key=KEY)._transport.session.auth == (KEY, "")
    assert CoCalcClient(api_key=KEY).host == "https://cocalc.com"
    monkeypatch.setenv("COCALC_HOST", "https://my.cocalc.example/")
    assert CoCalcClient(api_key=KEY).host == "https://my.cocalc.example"


def test_no_plain_http_except_loopback():
    with pytest.raises(BadInput, match="plain http"):
        CoCalcClient(api_key=KEY, host="http://cocalc.example")
    for host in ("http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"):
        CoCalcClient(api_key=KEY, host=host)


def test_the_key_never_shows(caplog):
    caplog.set_level(logging.DEBUG)
    c = client()
    assert KEY not in repr(c) and KEY not in str(c)
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{HOST}/api/v1/ping",
            status=400,
            json={"error": "You must provide authentication via an API key."},
        )
        with pytest.raises(AuthenticationError) as info:
            c.ping()
    no_key_anywhere(info.value)
    assert KEY not in caplog.text


@pytest.mark.parametrize("text", ["must be signed in", "Error: must be signed in", "user must be signed in"])
@pytest.mark.parametrize("api", ["v2", "auto"])
def test_v2_says_a_wrong_key_with_must_be_signed_in(text, api):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{HOST}/api/v2/customize", json={"site_name": "CoCalc"})
        rsps.post(f"{HOST}/api/v2/projects/copy-path", json={"error": text})
        with pytest.raises(AuthenticationError, match="signed in") as info:
            client(api).copy_path_between_projects(SRC, "a", DST)
        assert info.value.endpoint == "copy_path_between_projects"
        assert info.value.route == "v2 projects/copy-path"
        no_key_anywhere(info.value)
