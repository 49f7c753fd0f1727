"""The kiosk page's IFrame protocol in a real browser: exact replies, display, readiness, log.

A fake ``https://parent.test`` embeds the emulator (proxied as ``https://cocalc.test``).
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

import pytest
from _kiosk_harness import (
    command,
    no_reply,
    parent_html,
    populate,
    project_log,
    received,
    replies,
    send_js,
    wait_ready,
)

pytestmark = pytest.mark.browser

COCALC = "https://cocalc.test"
PARENT = "https://parent.test"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def embed(kiosk_emulator: Any, sites: Any, page: Any, path: str, **settings: Any) -> tuple:
    """Start an emulator allowing parent.test, load the host page with the kiosk ``path``."""
    settings.setdefault("iframe_comm_hosts", "parent.test")
    settings.setdefault("samesite_remember_me", "none")  # cross-site IFrame: see sign-in tests
    emu = kiosk_emulator(**settings)
    pid = populate(emu.state)
    token = emu.state.issue_token()
    sites.proxy(COCALC, emu.url)
    src = COCALC + path.format(pid=pid) + f"&auth_token={token}"
    sites.html(PARENT, parent_html(src, COCALC))
    page.goto(PARENT + "/")
    return emu, pid


def frame_content(page: Any) -> Any:
    return page.frame_locator("#cocalc").locator("#content")


def test_every_action_and_error(kiosk_emulator, fake_https_sites, page, screenshot):
    _emu, pid = embed(kiosk_emulator, fake_https_sites, page, "/app?fullscreen=kiosk&session=")
    content = frame_content(page)
    ready = wait_ready(page)["reply"]
    assert set(ready) == {"status", "connection", "open_files"}
    assert ready["status"] == "done" and ready["open_files"] == {}
    conn = ready["connection"]
    assert set(conn) == {"quality", "status", "status_time", "ping"}
    assert conn["quality"] == "good" and conn["status"] == "connected"  # as CoCalc's
    assert isinstance(conn["status_time"], datetime.datetime) and conn["ping"] is None
    assert content.get_attribute("data-kind") == "banner"
    assert "CoCalc is ready" in content.inner_text()

    # open: validation errors carry no action
    assert command(page, {"action": "open", "project_id": "foo-bar", "path": "bar"}) == [
        {"status": "error", "mesg": "invalid project_id='foo-bar'"}
    ]
    assert command(page, {"action": "open", "path": "x"}) == [
        {"status": "error", "mesg": "invalid project_id='undefined'"}
    ]
    assert command(page, {"action": "open", "project_id": 12, "path": "x"}) == [
        {"status": "error", "mesg": "invalid project_id='12'"}
    ]
    for bad_path in ({"wrong": "path"}, None, 7):
        assert command(page, {"action": "open", "project_id": pid, "path": bad_path}) == [
            {"status": "error", "mesg": "invalid path, it must be a string"}
        ]
    assert command(page, {"action": "open", "project_id": pid}) == [
        {"status": "error", "mesg": "invalid path, it must be a string"}
    ]

    # open: errors after the ack carry action, path and project_id
    unknown = "00000000-0000-4000-8000-000000000000"
    head = {"action": "open", "path": "a.txt", "project_id": unknown}
    assert command(page, {"action": "open", "project_id": unknown, "path": "a.txt"}, 2) == [
        {"status": "ack", **head},
        {"status": "error", **head, "mesg": f"Error: no project with id '{unknown}'"},
    ]
    head = {"action": "open", "path": "nope.txt", "project_id": pid}
    assert command(page, {"action": "open", "project_id": pid, "path": "nope.txt"}, 2) == [
        {"status": "ack", **head},
        {"status": "error", **head, "mesg": "Error: no such file or directory: 'nope.txt'"},
    ]
    assert content.get_attribute("data-kind") == "missing"
    escape = command(page, {"action": "open", "project_id": pid, "path": "../x.txt"}, 2)
    assert escape[1]["status"] == "error" and "leaves the project" in escape[1]["mesg"]
    assert project_log(page) == []  # nothing was opened yet

    # open a text file: ack, project log, done; the IFrame shows it
    head = {"action": "open", "path": "notes.txt", "project_id": pid}
    assert command(page, {"action": "open", "project_id": pid, "path": "notes.txt"}, 2) == [
        {"status": "ack", **head},
        {"status": "done", **head},
    ]
    assert content.get_attribute("data-kind") == "text"
    assert content.get_attribute("data-path") == "notes.txt"
    assert content.locator("pre").inner_text() == "first line\nsecond <b>line</b>\n"
    assert content.inner_text().strip() == "first line\nsecond <b>line</b>"  # nothing else shown
    order = [m["data"].get("status") or m["data"]["source"] for m in received(page)[-3:]]
    assert order == ["ack", "cocalc-project-log", "done"]
    (log,) = project_log(page)
    assert log["origin"] == COCALC and log["fromFrame"] is True
    assert set(log["data"]) == {"source", "payload"}
    entry = log["data"]["payload"]["project_log"]
    assert set(entry) == {"event", "project_id", "id", "time"}
    assert entry["event"] == {
        "event": "open",
        "action": "open",
        "filename": "notes.txt",
        "deleted": None,
        "compute_server_id": 0,
    }
    assert entry["project_id"] == pid and UUID_RE.match(entry["id"])
    assert isinstance(entry["time"], datetime.datetime)

    # open a notebook: shown readably
    head = {"action": "open", "path": "nb.ipynb", "project_id": pid}
    assert command(page, {"action": "open", "project_id": pid, "path": "nb.ipynb"}, 2)[1] == {
        "status": "done",
        **head,
    }
    assert content.get_attribute("data-kind") == "notebook"
    text = content.inner_text()
    for piece in ("# Title", "Some *markdown*.", "In [3]:", "print('hi')", "hi", "42"):
        assert piece in text
    assert "<img src=x onerror=alert(3)>" in text  # markdown shown as text, not HTML
    assert content.locator("img.output-image").count() == 1
    assert content.locator("img.output-image").evaluate("i => i.naturalWidth") == 1

    # a directory is shown as a listing but is not an open file
    head = {"action": "open", "path": "sub", "project_id": pid}
    assert command(page, {"action": "open", "project_id": pid, "path": "sub"}, 2)[1] == {
        "status": "done",
        **head,
    }
    assert content.get_attribute("data-kind") == "directory"
    assert content.locator("#listing").inner_text().strip() == "inner.txt"
    screenshot(page, "kiosk-protocol-open")

    (status,) = command(page, {"action": "status"})
    assert status["open_files"] == {pid: ["notes.txt", "nb.ipynb"]}

    # closeall: files closed, banner back
    assert command(page, {"action": "closeall"}) == [
        {"status": "done", "mesg": "all files are closed"}
    ]
    assert content.get_attribute("data-kind") == "banner"
    assert command(page, {"action": "status"})[0]["open_files"] == {}

    # unknown / missing action, bad payloads: exact texts
    assert command(page, {"action": "foo-bar"}) == [
        {"status": "error", "mesg": "Unknown action 'foo-bar'"}
    ]
    assert command(page, {}) == [{"status": "error", "mesg": "Unknown action 'undefined'"}]
    assert command(page, []) == [{"status": "error", "mesg": "Unknown action 'undefined'"}]
    assert command(page, None) == [{"status": "error", "mesg": 'There is no payload "data"'}]
    before = len(replies(page))
    send_js(page, "undefined")
    send_js(page, "\"{'action': 'foo'}\"")
    send_js(page, "42")
    deadline = time.monotonic() + 5
    while len(replies(page)) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert replies(page)[before:] == [
        {"status": "error", "mesg": 'There is no payload "data"'},
        {"status": "error", "mesg": 'The payload "data" must be an object'},
        {"status": "error", "mesg": 'The payload "data" must be an object'},
    ]
    # every message came from the IFrame, with CoCalc's origin
    assert all(m["fromFrame"] and m["origin"] == COCALC for m in received(page))
    screenshot(page, "kiosk-protocol-closeall")


def test_file_url_opens_the_file(kiosk_emulator, fake_https_sites, page):
    _emu, pid = embed(
        kiosk_emulator,
        fake_https_sites,
        page,
        "/projects/{pid}/files/notes.txt?fullscreen=kiosk&session=",
    )
    content = frame_content(page)
    assert content.get_attribute("data-kind") == "text"
    assert "second <b>line</b>" in content.inner_text()
    assert wait_ready(page)["reply"]["open_files"] == {pid: ["notes.txt"]}
    (log,) = project_log(page)
    assert log["data"]["payload"]["project_log"]["event"]["filename"] == "notes.txt"
    # a nested path and a second open keep both files open, in order
    command(page, {"action": "open", "project_id": pid, "path": "sub/inner.txt"}, 2)
    assert content.locator("pre").inner_text() == "inner"
    assert command(page, {"action": "status"})[0]["open_files"] == {
        pid: ["notes.txt", "sub/inner.txt"]
    }


def test_missing_file_url_says_so(kiosk_emulator, fake_https_sites, page):
    _emu, _pid = embed(
        kiosk_emulator,
        fake_https_sites,
        page,
        "/projects/{pid}/files/gone.txt?fullscreen=kiosk&session=",
    )
    content = frame_content(page)
    assert content.get_attribute("data-kind") == "missing"
    assert "no such file or directory: 'gone.txt'" in content.inner_text()
    assert wait_ready(page)["reply"]["open_files"] == {}
    assert project_log(page) == []


def test_readiness_needs_polling(kiosk_emulator, fake_https_sites, page):
    _emu, _pid = embed(
        kiosk_emulator,
        fake_https_sites,
        page,
        "/app?fullscreen=kiosk&session=",
        kiosk_startup_delay=1.5,
    )
    # page.goto waited for the IFrame's load event; the listener comes 1.5 s later
    no_reply(page, '{action: "status"}', wait=0.5)
    got = wait_ready(page, timeout=10, every=0.2)
    assert got["reply"]["status"] == "done"
    assert page.frame_locator("#cocalc").locator("body").get_attribute("data-kiosk-ready")


def test_without_kiosk_mode_there_is_no_listener(kiosk_emulator, fake_https_sites, page):
    _emu, _pid = embed(
        kiosk_emulator,
        fake_https_sites,
        page,
        "/projects/{pid}/files/notes.txt?session=",
        kiosk_startup_delay=0.0,
    )
    content = frame_content(page)
    assert content.get_attribute("data-kind") == "text"
    # CoCalc posts project-log events whether or not kiosk mode is on
    assert len(project_log(page)) == 1
    no_reply(page, '{action: "status"}', wait=1.0)
    no_reply(page, '{action: "open", project_id: "x", path: "y"}', wait=0.3)


def test_file_names_and_contents_are_not_html(kiosk_emulator, fake_https_sites, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    emu, pid = embed(kiosk_emulator, fake_https_sites, page, "/app?fullscreen=kiosk&session=")
    name = "<img src=x onerror=alert(1)>.txt"
    body = "<script>alert(2)</script><img src=y onerror=alert(4)>"
    (emu.state.data_dir / pid / name).write_text(body)
    wait_ready(page)
    assert command(page, {"action": "open", "project_id": pid, "path": name}, 2)[1]["status"] == (
        "done"
    )
    frame = page.frame_locator("#cocalc")
    assert frame.locator("#content pre").inner_text() == body
    assert frame.locator("#kiosk-title").inner_text() == name
    assert frame.locator("img").count() == 0 and frame.locator("#content script").count() == 0
    # and through the file URL itself
    url = f"{COCALC}/projects/{pid}/files/{name}?fullscreen=kiosk&session="
    page.evaluate("(u) => { document.getElementById('cocalc').src = u; }", url)
    frame.locator("#content[data-kind=text]").wait_for()
    assert frame.locator("#content pre").inner_text() == body
    assert frame.locator("img").count() == 0
    time.sleep(0.3)
    assert dialogs == []
