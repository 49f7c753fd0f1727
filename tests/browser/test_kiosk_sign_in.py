"""Signing the kiosk page in: ``&auth_token=`` (old way) and ``/auth/impersonate`` (current)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from _kiosk_harness import command, no_reply, parent_html, populate, wait_ready

pytestmark = pytest.mark.browser

COCALC = "https://cocalc.test"
PARENT = "https://parent.test"


def setup(kiosk_emulator: Any, sites: Any, **settings: Any) -> tuple:
    settings.setdefault("iframe_comm_hosts", "parent.test")
    settings.setdefault("kiosk_startup_delay", 0.0)
    emu = kiosk_emulator(**settings)
    pid = populate(emu.state)
    sites.proxy(COCALC, emu.url)
    return emu, pid


def load(page: Any, sites: Any, src: str) -> Any:
    sites.html(PARENT, parent_html(src, COCALC))
    page.goto(PARENT + "/")
    return page.frame_locator("#cocalc")


def test_unsigned_page_asks_for_sign_in(kiosk_emulator, fake_https_sites, page, screenshot):
    _emu, _pid = setup(kiosk_emulator, fake_https_sites)
    for query in ("", "&auth_token=wrongwrongwrongwrongwron"):
        frame = load(page, fake_https_sites, f"{COCALC}/app?fullscreen=kiosk&session={query}")
        assert "Sign in required" in frame.locator("body").inner_text()
        no_reply(page, '{action: "status"}', wait=0.8)
    assert page.context.cookies() == []
    screenshot(page, "kiosk-sign-in-required")


def test_token_in_url(kiosk_emulator, fake_https_sites, page):
    emu, pid = setup(kiosk_emulator, fake_https_sites, samesite_remember_me="none")
    token = emu.state.issue_token()
    path = f"/projects/{pid}/files/notes.txt?fullscreen=kiosk&session=&auth_token={token}"
    frame = load(page, fake_https_sites, COCALC + path)
    assert frame.locator("#content[data-kind=text]").inner_text().startswith("first line")
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "remember_me" and cookie["httpOnly"] and cookie["path"] == "/"
    assert token not in cookie["value"]
    kiosk = next(f for f in page.frames if f.url.startswith(COCALC))
    assert token not in kiosk.url and "fullscreen=kiosk" in kiosk.url  # dropped from the URL
    assert token not in kiosk.content()
    assert token not in requests.get(emu.url + path, timeout=10).text  # nor in the HTML
    wait_ready(page)
    replies = command(page, {"action": "open", "project_id": pid, "path": "nb.ipynb"}, 2)
    assert [r["status"] for r in replies] == ["ack", "done"]


def test_impersonate_then_kiosk_url(kiosk_emulator, fake_https_sites, page, screenshot):
    emu, pid = setup(kiosk_emulator, fake_https_sites, samesite_remember_me="none")
    token = emu.state.issue_token()
    frame = load(page, fake_https_sites, f"{COCALC}/auth/impersonate?auth_token={token}")
    # the impersonate page redirects to plain /app (kiosk parameters would be dropped)
    kiosk = next(f for f in page.frames if f.url.startswith(COCALC))
    kiosk.wait_for_url(f"{COCALC}/app")
    frame.locator("#content[data-kind=projects]").wait_for()
    assert "demo" in frame.locator("#content").inner_text()
    no_reply(page, '{action: "status"}', wait=0.5)  # /app without kiosk: no listener
    # now the kiosk URL, with no token: the cookie signs it in
    url = f"{COCALC}/projects/{pid}/files/notes.txt?fullscreen=kiosk&session="
    page.evaluate("(u) => { document.getElementById('cocalc').src = u; }", url)
    frame.locator("#content[data-kind=text]").wait_for()
    assert wait_ready(page)["reply"]["open_files"] == {pid: ["notes.txt"]}
    assert command(page, {"action": "open", "project_id": pid, "path": "sub"}, 2)[1]["status"] == (
        "done"
    )
    screenshot(page, "kiosk-impersonate")


def test_impersonate_with_a_bad_token(kiosk_emulator, fake_https_sites, page):
    _emu, _pid = setup(kiosk_emulator, fake_https_sites)
    frame = load(page, fake_https_sites, f"{COCALC}/auth/impersonate?auth_token=nope")
    assert frame.locator("body").inner_text() == (
        "ERROR: impersonate error -- unknown or expired token: 'nope'"
    )
    assert page.context.cookies() == []


def test_cross_site_lax_cookie_is_not_sent(kiosk_emulator, fake_https_sites, page):
    """As on CoCalc: a cross-site IFrame needs ``samesite_remember_me="none"``. With the
    default (Lax) the token page renders, but the browser keeps no cookie, so ``open`` fails."""
    emu, pid = setup(kiosk_emulator, fake_https_sites)
    token = emu.state.issue_token()
    load(page, fake_https_sites, f"{COCALC}/app?fullscreen=kiosk&session=&auth_token={token}")
    wait_ready(page)
    assert page.context.cookies() == []
    replies = command(page, {"action": "open", "project_id": pid, "path": "notes.txt"}, 2)
    assert replies[1]["status"] == "error" and replies[1]["mesg"] == "Error: not signed in"


def test_sign_in_can_be_switched_off(kiosk_emulator, fake_https_sites, page):
    _emu, pid = setup(kiosk_emulator, fake_https_sites, require_sign_in=False)
    load(page, fake_https_sites, f"{COCALC}/app?fullscreen=kiosk&session=")
    wait_ready(page)
    replies = command(page, {"action": "open", "project_id": pid, "path": "notes.txt"}, 2)
    assert [r["status"] for r in replies] == ["ack", "done"]
