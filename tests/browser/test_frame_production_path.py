"""The production path, without the emulator's development switch: JupyterLab over https on
port 443 (origin ``https://127.0.0.1``, no port) embedding an https CoCalc (the emulator with a
certificate from a throwaway authority that Chromium trusts, see ``_https.py``) whose
``iframe_comm_hosts`` lists ``127.0.0.1`` and that has no ``dev_http_origins``.

- ``CoCalcFrame`` signs in (``client=`` and ``account_id=``), then ``open_file``, ``status`` and
  ``closeall`` work: checked in Python's output and in what the IFrame shows.
- An https CoCalc whose list names another host, and an ``http://`` Lab against the https
  CoCalc, get no answer, as CoCalc gives none: the frame's explanatory timeout, while the IFrame
  shows the page.

Port 443 must be free and bindable (CI runs as root). Where it is not, these tests skip with
the reason; ``.ci/run`` sets ``COCALC_REQUIRE_HTTPS_TEST=1``, which turns any skip here into a
failure (tests/conftest.py, marker ``must_run``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from _https import REQUIRE_ENV
from _jupyterlab import JupyterLab, LabNotebook, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.must_run(REQUIRE_ENV)]

FRAME = "iframe.cocalc-frame-iframe"
OTHER_HOST = "jupyter.example.org"


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def _https_cocalc(kiosk_emulator: Any, loopback_tls: Any, hosts: str, **settings: Any) -> Any:
    """The emulator over https as a deployment's CoCalc: no development switch."""
    running = kiosk_emulator(tls=loopback_tls, iframe_comm_hosts=hosts, **settings)
    emu = running.extra["emulator"]
    assert emu.url.startswith("https://127.0.0.1:")
    assert emu.state.dev_http_origins == [] and emu.state.iframe_comm_hosts == hosts.split()
    return emu


def _project(emu: Any, files: dict[str, str]) -> str:
    pid = emu.create_project("production path")
    for rel, text in files.items():
        path = emu.project_path(pid) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pid


def _frame_cell(pid: str, sign_in: str) -> str:
    """A cell showing ``hello.txt`` of ``pid`` in a frame signed in with ``sign_in`` (keyword
    arguments as code)."""
    return (
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', {sign_in}, height=320, timeout=20)\n"
        "frame"
    )


def _client_sign_in(emu: Any) -> str:
    """``client=`` and ``account_id=``: the kernel gets a token from the emulator (trusting its
    authority through REQUESTS_CA_BUNDLE), the IFrame signs in through /auth/impersonate."""
    return f"client=CoCalcClient({emu.api_key!r}, host={emu.url!r}), account_id={emu.account_id!r}"


#: A command that gets no answer: the error's type and text, and the page's origin.
SILENT_STATUS = (
    "from cocalc_widgets.errors import CommandTimeout\n"
    "try:\n"
    "    r = await frame.status(timeout=6)\n"
    "    print('RESOLVED', r)\n"
    "except CommandTimeout as e:\n"
    "    print('TIMEOUT', type(e).__name__)\n"
    "    print('MESSAGE', ' '.join(str(e).split()))\n"
    "print('PAGE_ORIGIN', frame.page_origin)\n"
    "print('READY', frame.ready)"
)


def test_landing_page_over_https(
    kiosk_emulator: Any, loopback_tls: Any, https_page: Any, chromium_trust: Any
) -> None:
    """Chromium trusts the throwaway authority (no certificate error) and the front page's
    stylesheet passes its CSP."""
    emu = _https_cocalc(kiosk_emulator, loopback_tls, "127.0.0.1")
    pid = _project(emu, {"hello.txt": "hi\n"})
    response = https_page.goto(f"{emu.url}/")
    assert response is not None and response.ok, chromium_trust[2]
    assert https_page.locator("h1").inner_text() == "cocalc-widgets emulator"
    link = https_page.locator("a.kiosk-link").first
    assert link.get_attribute("href") == f"/projects/{pid}/files/?fullscreen=kiosk&session="
    font = https_page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "system-ui" in font  # kiosk.css loaded under the page's CSP
    assert emu.api_key not in https_page.content() and emu.password not in https_page.content()


def test_frame_on_an_https_lab_that_cocalc_lists(
    https_lab: JupyterLab,
    kiosk_emulator: Any,
    loopback_tls: Any,
    https_page: Any,
    https_context: Any,
    screenshot: Any,
) -> None:
    t0 = time.monotonic()
    assert https_lab.origin == "https://127.0.0.1"
    emu = _https_cocalc(kiosk_emulator, loopback_tls, "127.0.0.1")
    pid = _project(emu, {"hello.txt": "hello over https\n", "notes/a.txt": "note A\n"})
    cells = [
        _frame_cell(pid, _client_sign_in(emu)),  # 0: signs in
        # 1: open a file
        "r = await frame.open_file('notes/a.txt')\n"
        "print('OPEN', r['status'], r['path'])\n"
        "print('PAGE_ORIGIN', frame.page_origin)\n"
        "print('READY', frame.ready)",
        # 2: status
        "s = await frame.status()\n"
        "print('STATUS', s['status'], s['connection']['quality'])\n"
        f"print('FILES', sorted(s['open_files'][{pid!r}]))",
        # 3: closeall
        "c = await frame.closeall()\n"
        "print('CLOSEALL', c['status'], c['mesg'])\n"
        "print('AFTER', (await frame.status())['open_files'])",
    ]
    write_notebook(https_lab.root_dir / "production_path.ipynb", cells)
    nb = LabNotebook(https_page, https_lab, "production_path.ipynb").open()
    assert https_page.url.startswith("https://127.0.0.1/lab/")

    nb.run_cell(0, timeout=60)
    frame = https_page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=20000)
    assert "hello over https" in frame.locator("#file-text").inner_text()
    src = https_page.locator(FRAME).get_attribute("src") or ""
    assert src.startswith(f"{emu.url}/projects/{pid}/files/hello.txt?fullscreen=kiosk"), src
    token_calls = emu.request_count("system.generateUserAuthToken") + emu.request_count("user_auth")
    assert token_calls == 1
    (cookie,) = [c for c in https_context.cookies(emu.url) if c["name"] == "remember_me"]
    assert cookie["secure"] and cookie["httpOnly"]

    out = nb.run_cell(1, timeout=40)
    assert _lines(out, "OPEN") == ["done notes/a.txt"], out
    assert _lines(out, "PAGE_ORIGIN") == ["https://127.0.0.1"], out
    assert _lines(out, "READY") == ["True"], out
    assert "note A" in frame.locator("#file-text").inner_text()
    assert frame.locator("#kiosk-title").inner_text() == "notes/a.txt"

    out = nb.run_cell(2, timeout=40)
    assert _lines(out, "STATUS") == ["done good"], out
    assert _lines(out, "FILES") == [str(["hello.txt", "notes/a.txt"])], out

    out = nb.run_cell(3, timeout=40)
    assert _lines(out, "CLOSEALL") == ["done all files are closed"], out
    assert _lines(out, "AFTER") == ["{}"], out
    frame.locator("#kiosk-banner").wait_for(timeout=5000)  # the IFrame closed its files
    assert "ready" in https_page.locator(".cocalc-frame-status").first.inner_text()
    https_page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(https_page, "frame-production-path")
    print(f"production path: {time.monotonic() - t0:.1f} s")


def test_frame_on_an_https_lab_that_cocalc_does_not_list(
    https_lab: JupyterLab,
    kiosk_emulator: Any,
    loopback_tls: Any,
    https_page: Any,
    screenshot: Any,
) -> None:
    emu = _https_cocalc(kiosk_emulator, loopback_tls, OTHER_HOST)
    pid = _project(emu, {"hello.txt": "listed elsewhere\n"})
    cells = [_frame_cell(pid, _client_sign_in(emu)), SILENT_STATUS]
    write_notebook(https_lab.root_dir / "production_unlisted.ipynb", cells)
    nb = LabNotebook(https_page, https_lab, "production_unlisted.ipynb").open()
    nb.run_cell(0, timeout=60)
    frame = https_page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=20000)  # signed in: the page shows
    out = nb.run_cell(1, timeout=40)
    assert _lines(out, "TIMEOUT") == ["FrameNotReady"], out
    assert "iframe_comm_hosts" in _lines(out, "MESSAGE")[0], out
    assert _lines(out, "PAGE_ORIGIN") == ["https://127.0.0.1"], out
    print("https page, not listed:", _lines(out, "MESSAGE")[0])
    assert _lines(out, "READY") == ["False"], out
    assert "listed elsewhere" in frame.locator("#file-text").inner_text()
    https_page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(https_page, "frame-production-unlisted-host")


def test_frame_on_an_http_lab_is_refused_by_https_cocalc(
    lab: JupyterLab,
    kiosk_emulator: Any,
    loopback_tls: Any,
    https_page: Any,
    screenshot: Any,
) -> None:
    emu = _https_cocalc(kiosk_emulator, loopback_tls, "127.0.0.1")
    pid = _project(emu, {"hello.txt": "an http page embeds me\n"})
    # The kernel of this http Lab does not trust the authority: the token comes from a file.
    # The sign-in must not be why CoCalc stays silent, and Chromium keeps no cookie that an
    # https IFrame sets under an http page (not even SameSite=None; Secure: seen with Chromium
    # 156), so /auth/impersonate cannot sign in here: the token goes in the kiosk page's URL
    # (sign_in="url", CoCalc's older way), which signs that page in by itself.
    (lab.root_dir / "production-token.txt").write_text(emu.state.issue_token())
    cells = [
        _frame_cell(
            pid, f"host={emu.url!r}, auth_token=open('production-token.txt').read(), sign_in='url'"
        ),
        SILENT_STATUS,
    ]
    write_notebook(lab.root_dir / "production_http_lab.ipynb", cells)
    nb = LabNotebook(https_page, lab, "production_http_lab.ipynb").open()
    nb.run_cell(0, timeout=60)
    frame = https_page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=20000)
    out = nb.run_cell(1, timeout=40)
    assert _lines(out, "TIMEOUT") == ["FrameNotReady"], out
    assert "iframe_comm_hosts" in _lines(out, "MESSAGE")[0], out
    assert _lines(out, "PAGE_ORIGIN") == [lab.origin], out
    print("http page:", _lines(out, "MESSAGE")[0])
    assert lab.origin.startswith("http://127.0.0.1:")
    assert "an http page embeds me" in frame.locator("#file-text").inner_text()
    https_page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(https_page, "frame-production-http-lab-refused")
