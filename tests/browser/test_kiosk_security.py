"""Who the kiosk page answers: CoCalc's origin rule, the dev http switch, other windows."""

from __future__ import annotations

import time

import pytest
from _kiosk_harness import (
    SPY_HTML,
    command,
    no_reply,
    parent_html,
    parent_with_spy_html,
    populate,
    received,
    send_js,
    wait_ready,
)

pytestmark = pytest.mark.browser

COCALC = "https://cocalc.test"


def test_origin_allow_list(kiosk_emulator, fake_https_sites, page, screenshot):
    emu = kiosk_emulator(
        iframe_comm_hosts="parent.test .example.test",
        samesite_remember_me="none",
        kiosk_startup_delay=0.0,
    )
    populate(emu.state)
    token = emu.state.issue_token()
    fake_https_sites.proxy(COCALC, emu.url)
    src = f"{COCALC}/app?fullscreen=kiosk&session=&auth_token={token}"
    html = parent_html(src, COCALC)
    allowed = ["https://parent.test", "https://example.test", "https://www.example.test"]
    blocked = [
        "https://evil.test",
        "https://sub.parent.test",  # "parent.test" has no leading dot: exact host only
        "https://parent.test.evil.test",
        "https://notparent.test",
        "https://parent.test:8443",  # a port never matches
    ]
    for origin in allowed + blocked:
        fake_https_sites.html(origin, html)
    for origin in allowed:
        page.goto(origin + "/")
        assert wait_ready(page, timeout=5)["reply"]["status"] == "done", origin
    for origin in blocked:
        page.goto(origin + "/")
        page.frame_locator("#cocalc").locator("body[data-kiosk-ready]").wait_for()
        # the page is listening, yet a blocked origin gets nothing at all, whatever it sends
        for payload in ('{action: "status"}', "null", '{action: "nope"}'):
            send_js(page, payload)
        time.sleep(0.6)
        assert received(page) == [], origin
    screenshot(page, "kiosk-blocked-origin")


def test_plain_http_parent_needs_the_dev_switch(kiosk_emulator, serve_http, page, screenshot):
    pages: dict[str, str] = {}
    parent = serve_http(pages)  # http://127.0.0.1:PORT, filled below
    for dev in (False, True):
        emu = kiosk_emulator(
            iframe_comm_hosts="127.0.0.1 localhost",  # https rules never allow http
            dev_http_origins=[parent] if dev else [],
            kiosk_startup_delay=0.0,
        )
        pid = populate(emu.state)
        token = emu.state.issue_token()
        src = f"{emu.url}/app?fullscreen=kiosk&session=&auth_token={token}"
        pages["/"] = parent_html(src, emu.origin)
        page.goto(parent + "/")
        page.frame_locator("#cocalc").locator("body[data-kiosk-ready]").wait_for()
        if not dev:
            no_reply(page, '{action: "status"}', wait=1.0)
            continue
        assert wait_ready(page)["reply"]["open_files"] == {}
        # same site (127.0.0.1), so the SameSite=Lax cookie works for opening files
        replies = command(page, {"action": "open", "project_id": pid, "path": "notes.txt"}, 2)
        assert [r["status"] for r in replies] == ["ack", "done"]
        assert all(m["origin"] == emu.origin for m in received(page))
        screenshot(page, "kiosk-dev-http-parent")


def test_own_window_messages_are_ignored(kiosk_emulator, fake_https_sites, page):
    emu = kiosk_emulator(iframe_comm_hosts="parent.test cocalc.test", kiosk_startup_delay=0.0)
    populate(emu.state)
    token = emu.state.issue_token()
    fake_https_sites.proxy(COCALC, emu.url)
    src = f"{COCALC}/app?fullscreen=kiosk&session=&auth_token={token}"
    fake_https_sites.html("https://parent.test", parent_html(src, COCALC))
    page.goto("https://parent.test/")
    wait_ready(page)
    frame = next(f for f in page.frames if f.url.startswith(COCALC))
    # cocalc.test is even on the allow-list: still no answer to the page's own messages
    frame.evaluate(
        """() => { window.selfSeen = [];
                   window.addEventListener("message", (e) => window.selfSeen.push(e.data));
                   window.postMessage({action: "status"}, "*");
                   window.postMessage({action: "bogus"}, "*"); }"""
    )
    # Both arrive (a loaded machine may take a while), then the page has time to answer wrongly.
    frame.wait_for_function("window.selfSeen.length >= 2", timeout=10000)
    time.sleep(0.8)
    assert frame.evaluate("window.selfSeen") == [{"action": "status"}, {"action": "bogus"}]
    assert len(received(page)) == 1  # only the readiness reply from before


def test_replies_go_only_to_the_sender(kiosk_emulator, fake_https_sites, page):
    emu = kiosk_emulator(
        iframe_comm_hosts="parent.test", samesite_remember_me="none", kiosk_startup_delay=0.0
    )
    populate(emu.state)
    token = emu.state.issue_token()
    fake_https_sites.proxy(COCALC, emu.url)
    src = f"{COCALC}/app?fullscreen=kiosk&session=&auth_token={token}"
    html = parent_with_spy_html(src, COCALC, "https://parent.test/spy")
    fake_https_sites.pages("https://parent.test", {"/": html, "/spy": SPY_HTML})
    page.goto("https://parent.test/")
    wait_ready(page)
    spy = page.frame_locator("#spy")
    n = len(received(page))
    # the parent asks: the sibling (same origin as the parent) hears nothing
    assert command(page, {"action": "closeall"})[0]["mesg"] == "all files are closed"
    assert spy.locator("body").evaluate("() => window.received") == []
    # the sibling asks: only the sibling gets the answer
    n = len(received(page))
    spy.locator("body").evaluate(
        "() => window.sendToKiosk({action: 'bogus'}, 'https://cocalc.test')"
    )
    # The answer arrives (a loaded machine may take a while), then time for a second one.
    spy.locator("body").evaluate(
        """() => new Promise((resolve, reject) => {
          const start = Date.now();
          const check = () => window.received.length > 0 ? resolve()
            : Date.now() - start > 10000 ? reject(new Error("no answer in 10 s"))
            : setTimeout(check, 20);
          check();
        })"""
    )
    time.sleep(0.5)
    got = spy.locator("body").evaluate("() => window.received")
    assert got == [
        {"origin": COCALC, "data": {"status": "error", "mesg": "Unknown action 'bogus'"}}
    ]
    assert len(received(page)) == n
