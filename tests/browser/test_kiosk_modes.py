"""The emulator's ``kiosk`` setting in a real browser: a kiosk page answers IFrame messages only
under ``ok``; under ``broken`` and ``no-bridge`` it loads (the IFrame's ``load`` event fires) and
never answers; plain pages never answer, whatever the setting, and sign in with the cookie.

A fake ``https://parent.test`` embeds the emulator (proxied as ``https://cocalc.test``).
"""

from __future__ import annotations

from typing import Any

import pytest
from _kiosk_harness import no_reply, parent_html, populate, project_log, received, wait_ready

pytestmark = pytest.mark.browser

COCALC = "https://cocalc.test"
PARENT = "https://parent.test"
SILENCE = 1.5  # seconds a page that does not answer is given (its startup delay is 0)


def embed(kiosk_emulator: Any, sites: Any, page: Any, kiosk: str) -> tuple[Any, str]:
    """An emulator under ``kiosk`` allowing parent.test, signed in through /auth/impersonate
    (the cookie is SameSite=None, as cross-site framing needs), and the host page with an
    IFrame that counts its ``load`` events in ``window.loads``."""
    emu = kiosk_emulator(
        iframe_comm_hosts="parent.test",
        samesite_remember_me="none",
        kiosk_startup_delay=0.0,
        kiosk=kiosk,
    )
    pid = populate(emu.state)
    sites.proxy(COCALC, emu.url)
    src = f"{COCALC}/auth/impersonate?auth_token={emu.state.issue_token()}"
    html = parent_html(src, COCALC).replace(
        '<iframe id="cocalc"', '<iframe id="cocalc" onload="window.loads = (window.loads || 0) + 1"'
    )
    sites.html(PARENT, html)
    page.goto(PARENT + "/")
    page.frame_locator("#cocalc").locator("#content[data-kind=projects]").wait_for()
    # /app has fired its load event (the sign-in page navigates away before it has one)
    frame = next(f for f in page.frames if f.url.startswith(COCALC))
    frame.wait_for_function("document.readyState === 'complete'")
    page.wait_for_function("window.loads >= 1")
    return emu, pid


def navigate(page: Any, url: str) -> Any:
    """Point the IFrame at ``url`` and wait for its ``load`` event; returns the frame locator."""
    before = page.evaluate("window.loads")
    page.evaluate("(u) => { document.getElementById('cocalc').src = u; }", url)
    page.wait_for_function(f"window.loads > {before}")
    return page.frame_locator("#cocalc")


def body_data(frame: Any) -> dict[str, str]:
    return frame.locator("body").evaluate("b => ({...b.dataset})")


def test_ok_answers(kiosk_emulator, fake_https_sites, page):
    _emu, pid = embed(kiosk_emulator, fake_https_sites, page, "ok")
    frame = navigate(page, f"{COCALC}/projects/{pid}/files/notes.txt?fullscreen=kiosk&session=")
    assert frame.locator("#file-text").inner_text().startswith("first line")
    assert wait_ready(page, timeout=5)["reply"]["open_files"] == {pid: ["notes.txt"]}
    assert body_data(frame) == {
        "page": "kiosk",
        "fullscreen": "kiosk",
        "emulatorKiosk": "ok",
        "kioskReady": "true",
    }


def test_no_bridge_shows_the_file_and_never_answers(
    kiosk_emulator, fake_https_sites, page, screenshot
):
    _emu, pid = embed(kiosk_emulator, fake_https_sites, page, "no-bridge")
    frame = navigate(page, f"{COCALC}/projects/{pid}/files/notes.txt?fullscreen=kiosk&session=")
    assert frame.locator("#file-text").inner_text().startswith("first line")
    assert frame.locator("#kiosk-title").inner_text() == "notes.txt"
    assert body_data(frame) == {"page": "kiosk", "fullscreen": "kiosk", "emulatorKiosk": "no-bridge"}
    # as CoCalc does in every mode, the page posts the project-log entry of the file it opened
    # (unsolicited, target "*"): that is no answer, and no sign of a bridge
    (log,) = project_log(page)
    assert log["fromFrame"] and log["data"]["payload"]["project_log"]["event"]["filename"] == (
        "notes.txt"
    )
    before = len(received(page))
    for payload in ('{action: "status"}', "null", '{action: "nope"}'):
        no_reply(page, payload, wait=SILENCE / 3)
    open_file = {"action": "open", "project_id": pid, "path": "nb.ipynb"}
    page.evaluate("(p) => window.send(p)", open_file)
    page.wait_for_timeout(SILENCE * 1000)
    got = [m["data"] for m in received(page)[before:]]
    assert got == []  # not even an ack, and the file shown did not change
    assert frame.locator("#content").get_attribute("data-kind") == "text"
    screenshot(page, "kiosk-mode-no-bridge")


def test_broken_shows_only_cocalc_and_never_answers(
    kiosk_emulator, fake_https_sites, page, screenshot
):
    _emu, pid = embed(kiosk_emulator, fake_https_sites, page, "broken")
    for url in (
        f"{COCALC}/projects/{pid}/files/notes.txt?fullscreen=kiosk&session=",
        f"{COCALC}/app?fullscreen=kiosk&session=",
    ):
        frame = navigate(page, url)
        assert frame.locator("body").inner_text() == "CoCalc:"
        assert body_data(frame)["page"] == "kiosk" and body_data(frame)["emulatorKiosk"] == "broken"
        assert frame.locator("script").count() == 0
        no_reply(page, '{action: "status"}', wait=SILENCE)
    screenshot(page, "kiosk-mode-broken")


@pytest.mark.parametrize("kiosk", ["ok", "broken"])
def test_plain_pages_show_the_file_and_never_answer(
    kiosk_emulator, fake_https_sites, page, screenshot, kiosk
):
    """What a frame falls back to: the plain URL, signed in by the cookie alone."""
    _emu, pid = embed(kiosk_emulator, fake_https_sites, page, kiosk)
    frame = navigate(page, f"{COCALC}/projects/{pid}/files/sub/inner.txt?fullscreen=project&session=")
    assert frame.locator("#file-text").inner_text() == "inner"
    assert frame.locator("#kiosk-title").inner_text() == "sub/inner.txt"
    assert frame.locator("#project-title").inner_text() == "demo"
    assert body_data(frame) == {"page": "plain", "fullscreen": "project", "emulatorKiosk": kiosk}
    (log,) = project_log(page)  # the file's project-log entry, as on a kiosk page
    assert log["data"]["payload"]["project_log"]["event"]["filename"] == "sub/inner.txt"
    no_reply(page, '{action: "status"}', wait=SILENCE)
    # the listing, and its links lead on (keeping fullscreen=project)
    frame = navigate(page, f"{COCALC}/projects/{pid}/files/?fullscreen&session=")
    assert frame.locator("#content").get_attribute("data-kind") == "directory"
    assert frame.locator("#kiosk-title").inner_text() == "/"
    assert frame.locator("#listing li").all_inner_texts() == ["nb.ipynb", "notes.txt", "sub/"]
    before = page.evaluate("window.loads")
    frame.locator("#listing a", has_text="sub/").click()
    page.wait_for_function(f"window.loads > {before}")
    assert frame.locator("#kiosk-title").inner_text() == "sub/"
    assert body_data(frame)["fullscreen"] == ""
    assert frame.locator("#listing li").all_inner_texts() == ["inner.txt"]
    screenshot(page, f"kiosk-mode-plain-{kiosk}")


def test_the_setting_switches_at_runtime(kiosk_emulator, fake_https_sites, page):
    emu, pid = embed(kiosk_emulator, fake_https_sites, page, "broken")
    url = f"{COCALC}/projects/{pid}/files/notes.txt?fullscreen=kiosk&session="
    assert navigate(page, url).locator("body").inner_text() == "CoCalc:"
    emu.state.kiosk = "ok"
    navigate(page, url)
    assert wait_ready(page, timeout=5)["reply"]["open_files"] == {pid: ["notes.txt"]}
