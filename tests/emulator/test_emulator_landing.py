"""The emulator's front page (``GET /``): what it is, its projects with kiosk links, how to sign
in, the APIs it serves; never the API key, a password or a token."""

from __future__ import annotations

import html
import re

import pytest
import requests

from cocalc_widgets.emulator import Emulator
from cocalc_widgets.emulator._kiosk import _PAGE_CSP


@pytest.fixture
def demo_emulator(tmp_path):
    emu = Emulator(
        data_dir=tmp_path / "data", api_key="sk-landingsecretkey0000", password="pw-landing-secret",
        iframe_comm_hosts="jupyter.example.org .example.edu",
    )
    projects = emu.seed_demo()
    emu.start()
    try:
        yield emu, projects
    finally:
        emu.stop()


def _text(body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_front_page_explains_the_emulator_and_links_every_project(demo_emulator):
    emu, projects = demo_emulator
    r = requests.get(f"{emu.url}/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Security-Policy"] == _PAGE_CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    body = r.text
    text = _text(body)
    assert "cocalc-widgets emulator" in text and "local stand-in for a CoCalc server" in text
    for title, pid in projects.items():
        assert title in text and pid in text
        link = f'href="/projects/{pid}/files/?fullscreen=kiosk&amp;session="'
        assert link in body
    # sign-in: the three token calls and the impersonate URL
    for name in ("user_auth", "system.generateUserAuthToken", "org.createToken"):
        assert name in text
    assert f"{emu.url}/auth/impersonate?auth_token=<token>" in text
    # the APIs served, and the embedding settings
    assert re.findall(r'data-api="(\w+)"', body) == ["v1", "v2", "conat"]
    assert f"POST {emu.url}/api/v2/<path>" in text
    assert "jupyter.example.org" in text and ".example.edu" in text
    assert "Served over plain http" in text and "--https" in text
    assert "<script" not in body  # a static page: nothing runs


def test_front_page_never_shows_a_secret(demo_emulator):
    emu, _ = demo_emulator
    token = emu.state.issue_token()
    session = emu.state.create_session()
    body = requests.get(f"{emu.url}/", cookies={"remember_me": session}, timeout=10).text
    for secret in (emu.api_key, emu.password, token, session):
        assert secret not in body
    assert "never shows them" in _text(body)


def test_kiosk_links_work_once_signed_in(demo_emulator):
    emu, projects = demo_emulator
    body = requests.get(f"{emu.url}/", timeout=10).text
    links = [html.unescape(h) for h in re.findall(r'class="kiosk-link" href="([^"]+)"', body)]
    assert len(links) == len(projects)
    s = requests.Session()
    assert s.get(f"{emu.url}{links[0]}", timeout=10).status_code == 401  # not signed in yet
    s.get(f"{emu.url}/auth/impersonate", params={"auth_token": emu.state.issue_token()}, timeout=10)
    r = s.get(f"{emu.url}{links[0]}", timeout=10)
    assert r.status_code == 200 and '"kiosk": true' in r.text


def test_front_page_follows_the_served_apis_and_settings(tmp_path):
    with Emulator(data_dir=tmp_path / "a", api_versions=("v2", "conat"), site_admin=False) as emu:
        body = requests.get(f"{emu.url}/", timeout=10).text
        text = _text(body)
        assert re.findall(r'data-api="(\w+)"', body) == ["v2", "conat"]
        assert "user_auth" not in text and "org.createToken" in text
        assert re.search(r"the user's\s+password", text)  # not a site admin: it is needed
        assert "No projects yet" in text and "none listed" in text
    with Emulator(data_dir=tmp_path / "b", api_versions=("v2",), require_sign_in=False) as emu:
        text = _text(requests.get(f"{emu.url}/", timeout=10).text)
        assert "serves neither API v1 nor the conat bridges" in text
        assert "Sign-in is off" in text


def test_front_page_over_https(tmp_path):
    with Emulator(data_dir=tmp_path / "d", tls=True, samesite_remember_me="none") as emu:
        r = requests.get(f"{emu.url}/", verify=str(emu.ca_file), timeout=10)
        text = _text(r.text)
        assert r.status_code == 200 and "Served over plain http" not in text
        assert "SameSite=None, Secure" in text
        assert f"POST {emu.url}/api/conat/hub" in text


def test_only_get_and_head(demo_emulator):
    emu, _ = demo_emulator
    head = requests.head(f"{emu.url}/", timeout=10)
    assert head.status_code == 200 and head.text == ""
    assert requests.post(f"{emu.url}/", timeout=10).status_code == 404
