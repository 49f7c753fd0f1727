"""The emulator's kiosk pages without a browser: werkzeug's test Client against handle_kiosk."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from cocalc_widgets.emulator._kiosk import handle_kiosk, load_document
from cocalc_widgets.emulator._state import EmulatorState

CONFIG_RE = re.compile(r'<script type="application/json" id="kiosk-config">(.*?)</script>', re.S)


@pytest.fixture
def state(tmp_path: Path) -> EmulatorState:
    return EmulatorState(tmp_path / "data", iframe_comm_hosts="parent.test .example.test")


@pytest.fixture
def pid(state: EmulatorState) -> str:
    pid = state.create_project("demo")
    root = state.data_dir / pid
    (root / "a.txt").write_text("hello")
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_text("b")
    return pid


def client(state: EmulatorState) -> Client:
    @Request.application
    def app(request: Request) -> Response:
        return handle_kiosk(state, request) or Response("Not Found", status=404)

    return Client(app, use_cookies=False)


def config_of(response) -> dict:
    match = CONFIG_RE.search(response.get_data(as_text=True))
    assert match, "no kiosk config in the page"
    return json.loads(match.group(1))


def cookie_value(response, name: str = "remember_me") -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return header.split(";")[0].split("=", 1)[1]


# -- sign-in -------------------------------------------------------------------------------------
def test_unsigned_requests_get_the_sign_in_page(state, pid):
    c = client(state)
    for url in ("/app?fullscreen=kiosk&session=", f"/projects/{pid}/files/a.txt?fullscreen=kiosk"):
        r = c.get(url)
        assert r.status_code == 401
        text = r.get_data(as_text=True)
        assert "Sign in required" in text and "kiosk.js" not in text and "hello" not in text
    assert c.get("/app?auth_token=abcdefghijklmnopqrstuvwx").status_code == 401
    r = c.get(f"/_kiosk/file?project_id={pid}&path=a.txt")
    assert r.status_code == 401 and r.json == {"error": "not signed in"}


def test_token_in_url_signs_in_and_sets_a_cookie(state, pid):
    c = client(state)
    token = state.issue_token()
    r = c.get(f"/projects/{pid}/files/a.txt?fullscreen=kiosk&session=&auth_token={token}")
    assert r.status_code == 200
    assert token not in r.get_data(as_text=True)
    (header,) = r.headers.getlist("Set-Cookie")
    assert header.startswith("remember_me=")
    for attr in ("HttpOnly", "Path=/", "SameSite=Lax"):
        assert attr in header
    assert "Secure" not in header
    sid = cookie_value(r)
    assert sid != token and token not in sid
    cfg = config_of(r)
    assert cfg["kiosk"] is True
    assert cfg["doc"] == {
        "project_id": pid,
        "path": "a.txt",
        "size": 5,
        "kind": "text",
        "text": "hello",
        "truncated": False,
    }
    assert cfg["iframe_comm_hosts"] == ["parent.test", ".example.test"]
    # the cookie now signs in pages and the JSON endpoint
    cookie = {"Cookie": f"remember_me={sid}"}
    assert c.get("/app?fullscreen=kiosk&session=", headers=cookie).status_code == 200
    r = c.get(f"/_kiosk/file?project_id={pid}&path=sub/b.txt", headers=cookie)
    assert r.status_code == 200 and r.json["text"] == "b"


def test_impersonate(state, pid):
    c = client(state)
    token = state.issue_token()
    r = c.get(f"/auth/impersonate?auth_token={token}&lang_temp=en")
    assert r.status_code == 200 and r.mimetype == "text/html"
    body = r.get_data(as_text=True)
    assert 'window.location.href = "/app";' in body
    assert token not in body and "fullscreen" not in body
    sid = cookie_value(r)
    assert state.check_session(sid)
    r = c.get("/auth/impersonate?auth_token=")
    assert r.get_data(as_text=True) == "ERROR: impersonate error -- invalid empty token"
    r = c.get(f"/auth/impersonate?auth_token={token}x")
    assert r.mimetype == "text/plain"
    assert r.get_data(as_text=True) == (
        f"ERROR: impersonate error -- unknown or expired token: '{token}x'"
    )
    assert r.headers.getlist("Set-Cookie") == []


def test_samesite_none_is_secure(state, pid):
    state.samesite_remember_me = "none"
    r = client(state).get(f"/app?auth_token={state.issue_token()}")
    (header,) = r.headers.getlist("Set-Cookie")
    assert "SameSite=None" in header and "Secure" in header


def test_sign_in_off(state, pid):
    state.require_sign_in = False
    c = client(state)
    assert c.get("/app?fullscreen=kiosk&session=").status_code == 200
    assert c.get(f"/_kiosk/file?project_id={pid}&path=a.txt").json["text"] == "hello"


# -- routes --------------------------------------------------------------------------------------
def test_routes_that_are_not_ours(state, pid):
    c = client(state)
    state.require_sign_in = False
    for url in (
        "/",
        "/api/v1/ping",
        "/projects/not-a-uuid/files/a.txt",
        f"/projects/{pid}/other",
        "/_kiosk/static/../_kiosk.py",
        "/_kiosk/static/nope.js",
        "/_kiosk/static/kiosk.py",
    ):
        assert c.get(url).status_code == 404, url
    assert c.post("/app").status_code == 404
    r = c.get("/_kiosk/static/kiosk.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert c.get("/_kiosk/static/kiosk.css").mimetype == "text/css"


def test_pages_and_documents(state, pid):
    state.require_sign_in = False
    c = client(state)
    r = c.get(f"/projects/{pid}/files/?fullscreen=kiosk")
    assert config_of(r)["doc"]["kind"] == "directory"
    assert config_of(r)["doc"]["entries"] == [
        {"name": "a.txt", "is_dir": False, "size": 5},
        {"name": "sub", "is_dir": True, "size": 0},
    ]
    r = c.get(f"/projects/{pid}/files/missing.txt?fullscreen=kiosk")
    assert r.status_code == 404
    assert config_of(r)["doc"]["error"] == "no such file or directory: 'missing.txt'"
    assert config_of(r)["kiosk"] is True  # the listener still runs
    other = "00000000-0000-4000-8000-000000000000"
    r = c.get(f"/projects/{other}/files/a.txt")
    assert r.status_code == 404 and config_of(r)["kiosk"] is False
    app = config_of(c.get("/app"))
    assert app["doc"] is None and app["projects"] == [{"project_id": pid, "title": "demo"}]
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    r = c.get(f"/_kiosk/file?project_id={other}&path=a.txt")
    assert r.status_code == 404 and r.json == {"error": f"no project with id '{other}'"}
    assert c.get(f"/_kiosk/file?project_id={pid}").status_code == 400


def test_notebook_document(state, pid):
    root = state.data_dir / pid
    nb = {
        "nbformat": 4,
        "cells": [
            {"cell_type": "markdown", "source": ["# T\n", "x"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "source": "1/0",
                "outputs": [
                    {"output_type": "error", "traceback": ["\x1b[31mZeroDivisionError\x1b[0m"]},
                    {"output_type": "display_data", "data": {"image/png": "bm90IGJhc2U2NA=="}},
                    {"output_type": "display_data", "data": {"image/png": "%%%"}},
                    {"output_type": "execute_result", "data": {"text/plain": "3"}},
                ],
            },
        ],
    }
    (root / "n.ipynb").write_text(json.dumps(nb))
    doc = load_document(state, pid, "n.ipynb")
    assert doc["kind"] == "notebook"
    assert doc["cells"][0] == {"cell_type": "markdown", "source": "# T\nx"}
    assert doc["cells"][1]["outputs"] == [
        {"type": "error", "text": "ZeroDivisionError\n"},
        {"type": "image", "mime": "image/png", "data": "bm90IGJhc2U2NA=="},
        {"type": "text", "text": "3"},  # the invalid base64 image is dropped
    ]
    (root / "bad.ipynb").write_text("{not json")
    assert load_document(state, pid, "bad.ipynb")["kind"] == "text"
    (root / "bin.dat").write_bytes(b"\x00\x01\x02")
    assert load_document(state, pid, "bin.dat")["kind"] == "binary"


# -- escaping and path safety -------------------------------------------------------------------
def test_file_names_and_contents_are_escaped(state, pid):
    state.require_sign_in = False
    name = "<script>alert(1)<!--.txt"
    body = "</script><script>alert(2)</script><img src=x onerror=alert(3)> & \u2028"
    (state.data_dir / pid / name).write_text(body)
    r = client(state).get(f"/projects/{pid}/files/{name}?fullscreen=kiosk")
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "<img" not in html and "\u2028" not in html
    assert html.count("</script>") == 2  # the config and the module, nothing else
    assert "<title>&lt;script&gt;alert(1)&lt;!--.txt - CoCalc emulator</title>" in html
    doc = config_of(r)["doc"]
    assert doc["path"] == name and doc["text"] == body


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "sub/../../outside.txt", "/etc/passwd", "~/x", "link-out/secret.txt"],
)
def test_paths_may_not_leave_the_project(state, pid, tmp_path, path):
    state.require_sign_in = False
    (tmp_path / "data" / "outside.txt").write_text("TOP-SECRET-CONTENT")
    (tmp_path / "secret-dir").mkdir()
    (tmp_path / "secret-dir" / "secret.txt").write_text("TOP-SECRET-CONTENT")
    os.symlink(tmp_path / "secret-dir", state.data_dir / pid / "link-out")
    c = client(state)
    r = c.get(f"/_kiosk/file?project_id={pid}&path={path}")
    assert r.status_code == 400 and "TOP-SECRET" not in r.get_data(as_text=True)
    r = c.get(f"/projects/{pid}/files/{path.lstrip('/')}?fullscreen=kiosk")
    assert r.status_code in (400, 404) and "TOP-SECRET" not in r.get_data(as_text=True)


def test_symlink_file_out_and_nul_refused(state, pid, tmp_path):
    state.require_sign_in = False
    (tmp_path / "s.txt").write_text("TOP-SECRET-CONTENT")
    os.symlink(tmp_path / "s.txt", state.data_dir / pid / "s.txt")
    c = client(state)
    r = c.get(f"/_kiosk/file?project_id={pid}&path=s.txt")
    assert r.status_code == 400 and "leaves the project" in r.json["error"]
    r = c.get(f"/_kiosk/file?project_id={pid}&path=a%00.txt")
    assert r.status_code == 400 and "NUL" in r.json["error"]
    # a symlink that stays inside the project is fine
    os.symlink("a.txt", state.data_dir / pid / "alias.txt")
    assert c.get(f"/_kiosk/file?project_id={pid}&path=alias.txt").json["text"] == "hello"


def test_the_full_emulator_serves_the_kiosk_routes(tmp_path):
    """Through the real Emulator app: the API half must leave the kiosk routes to us."""
    import requests

    from cocalc_widgets.emulator import Emulator

    with Emulator(data_dir=tmp_path / "emu", iframe_comm_hosts="parent.test") as emu:
        pid = emu.state.create_project("demo")
        (emu.state.data_dir / pid / "a.txt").write_text("hello")
        token = emu.state.issue_token()
        for name, mime in (("kiosk.js", "text/javascript"), ("kiosk.css", "text/css")):
            r = requests.get(f"{emu.url}/_kiosk/static/{name}", timeout=10)
            assert r.status_code == 200 and r.headers["Content-Type"].startswith(mime)
        s = requests.Session()
        r = s.get(f"{emu.url}/projects/{pid}/files/a.txt?fullscreen=kiosk&auth_token={token}")
        assert r.status_code == 200 and "remember_me" in s.cookies
        assert s.get(f"{emu.url}/_kiosk/file?project_id={pid}&path=a.txt").json()["text"] == (
            "hello"
        )
        r = requests.get(f"{emu.url}/auth/impersonate?auth_token={token}", timeout=10)
        assert r.status_code == 200 and "remember_me" in r.cookies
