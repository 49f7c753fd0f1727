"""CoCalcFrame in a real JupyterLab, in Debian's Chromium, with the emulator as CoCalc.

Each test writes its own notebook (so it gets its own kernel), runs its cells through Lab's UI and
checks both what Python printed and what the CoCalc IFrame shows.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from _jupyterlab import JupyterLab, LabNotebook, write_notebook

pytestmark = pytest.mark.browser

FRAME = "iframe.cocalc-frame-iframe"




def _project(emu: Any, files: dict[str, str]) -> str:
    pid = emu.state.create_project(title="frame test")
    root = emu.state.project_dir(pid)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return pid


def _lines(text: str, tag: str) -> list[str]:
    tag += " "
    return [line[len(tag) :].strip() for line in text.splitlines() if line.startswith(tag)]


def test_frame_commands_in_jupyterlab(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    emu = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=True)
    pid = _project(emu, {"hello.txt": "hello from the start page\n", "notes/a.txt": "note A\n"})
    state = emu.state
    cells = [
        # 0: the frame, signed in with a fresh token from the client (impersonate flow)
        "from cocalc_widgets.client import CoCalcClient\n"
        "from cocalc_widgets.frame import CoCalcFrame\n"
        f"client = CoCalcClient({state.api_key!r}, host={emu.url!r}, api='v1')\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', client=client,\n"
        f"                    account_id={state.account_id!r}, password={state.password!r},\n"
        "                    height=420, timeout=20)\n"
        "frame",
        # 1: open a file
        "import time\n"
        "t0 = time.monotonic()\n"
        "h = frame.open_file('notes/a.txt')\n"
        "r = await h\n"
        "print('OPEN', r['status'], r['path'], h.ack['status'], h.state)\n"
        "print('OPENFILES', sorted(frame.open_files.get(frame.project_id, [])))\n"
        "print('READY', frame.ready)",
        # 2: status
        "s = await frame.status()\n"
        "print('STATUS', s['status'], s['connection']['quality'])\n"
        f"print('FILES', sorted(s['open_files'][{pid!r}]))\n"
        "print('TRAIT', frame.connection == s['connection'], frame.open_files == s['open_files'])",
        # 3: closeall, then status again; a burst of commands; an error reply
        "c = await frame.closeall()\n"
        "print('CLOSEALL', c['mesg'])\n"
        "print('AFTER', (await frame.status())['open_files'])\n"
        "import asyncio\n"
        "t0 = time.monotonic()\n"
        "burst = [frame.status() for _ in range(20)]\n"
        "await asyncio.gather(*burst)\n"
        "print('BURST', len(burst), all(b.state == 'done' for b in burst),\n"
        "      round((time.monotonic() - t0) / len(burst) * 1000, 1), 'ms/command')\n"
        "from cocalc_widgets.errors import CommandError\n"
        "try:\n"
        "    await frame.command('frobnicate')\n"
        "except CommandError as e:\n"
        "    print('ERROR', e.mesg)\n"
        "print('LOG', [e['event']['filename'] for e in frame.project_log])\n"
        "print('REPR', repr(frame))\n"
        "t0 = time.monotonic()\n"
        "for _ in range(10):\n"
        "    await frame.status()\n"
        "print('SEQ1', round((time.monotonic() - t0) / 10 * 1000, 1), 'ms/command')",
        # 4: the saved widget state holds no token
        "import json, ipywidgets\n"
        "state = json.dumps(ipywidgets.Widget.get_manager_state(widgets=[frame]))\n"
        "print('TOKEN_IN_STATE', frame._CoCalcFrame__token in state, len(state) > 0)",
        # 5: a second view of the same frame (it becomes the relay)
        "display(frame)",
        # 6: commands still resolve exactly once; sequential round trips are timed
        "t0 = time.monotonic()\n"
        "for _ in range(10):\n"
        "    s = await frame.status(timeout=10)\n"
        "print('SEQ', round((time.monotonic() - t0) / 10 * 1000, 1), 'ms/command')\n"
        "print('VIEWS', frame.views, s['status'], frame.ready, len(frame.pending))",
    ]
    write_notebook(lab.root_dir / "frame_commands.ipynb", cells)
    nb = LabNotebook(page, lab, "frame_commands.ipynb").open()
    nb.run_cell(0)
    frame = page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=20000)
    assert "hello from the start page" in frame.locator("#file-text").inner_text()

    out = nb.run_cell(1, timeout=40)
    assert _lines(out, "OPEN") == ["done notes/a.txt ack done"], out
    assert _lines(out, "READY") == ["True"], out
    # open_files is CoCalc's last status reply (the readiness poll), not updated by open
    assert _lines(out, "OPENFILES") == [str(["hello.txt"])], out
    assert "note A" in frame.locator("#file-text").inner_text()
    assert frame.locator("#kiosk-title").inner_text() == "notes/a.txt"

    out = nb.run_cell(2, timeout=40)
    assert _lines(out, "STATUS") == ["done good"], out
    assert _lines(out, "FILES") == [str(["hello.txt", "notes/a.txt"])], out
    assert _lines(out, "TRAIT") == ["True True"], out

    out = nb.run_cell(3, timeout=60)
    assert _lines(out, "CLOSEALL") == ["all files are closed"], out
    assert _lines(out, "AFTER") == ["{}"], out
    assert _lines(out, "BURST")[0].startswith("20 True"), out
    timings = _lines(out, "BURST") + _lines(out, "SEQ1")
    assert _lines(out, "ERROR") == ["Unknown action 'frobnicate'"], out
    assert "notes/a.txt" in _lines(out, "LOG")[0], out
    assert "ready" in _lines(out, "REPR")[0], out
    frame.locator("#kiosk-banner").wait_for(timeout=5000)
    status_line = page.locator(".cocalc-frame-status").first.inner_text()
    assert "ready" in status_line

    out = nb.run_cell(4)
    assert _lines(out, "TOKEN_IN_STATE") == ["False True"], out

    nb.run_cell(5)
    page.frame_locator(FRAME).nth(1).locator("#file-text").wait_for(timeout=20000)
    out = nb.run_cell(6, timeout=60)
    assert _lines(out, "VIEWS") == ["2 done True 0"], out
    assert page.locator(".cocalc-frame-status").nth(1).inner_text().startswith("CoCalc · ready")
    assert "another view" in page.locator(".cocalc-frame-status").first.inner_text()
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "frame-commands-jupyterlab")
    print("timings (burst, one view, two views):", [*timings, *_lines(out, "SEQ")])


FORGE_HTML = """<!doctype html><html><body>forger<script>
const forged = {status: "done", connection: {quality: "forged"}, open_files: {"forged": ["x"]}};
const log = {source: "cocalc-project-log",
             payload: {project_log: {event: {event: "open", filename: "FORGED"}, id: "forged"}}};
let n = 0;
const t = setInterval(() => {
  parent.postMessage(forged, "*");
  parent.postMessage(log, "*");
  if (++n > 30) clearInterval(t);
}, 50);
</script></body></html>"""


def test_frame_ignores_forged_messages_and_explains_silence(
    lab: JupyterLab,
    kiosk_emulator: Any,
    page: Any,
    fake_https_sites: Any,
    serve_http: Any,
    screenshot: Any,
) -> None:
    # CoCalc that does not allow this notebook's origin: it never answers (silently drops).
    emu = kiosk_emulator(require_sign_in=True)
    pid = _project(emu, {"hello.txt": "silent cocalc\n"})
    token = emu.state.issue_token()
    # The cell reads the token from a file, so the notebook's source does not contain it.
    (lab.root_dir / "forged-token.txt").write_text(token)
    other = serve_http({"/forge.html": FORGE_HTML})  # another origin

    # A window at CoCalc's own origin that is not the frame's IFrame: /forge.html is faked by
    # the browser's router, every other request goes to the emulator.
    def cocalc_site(route: Any, request: Any) -> None:
        if request.url.split("?")[0].endswith("/forge.html"):
            route.fulfill(status=200, body=FORGE_HTML, content_type="text/html")
        else:
            route.continue_()

    fake_https_sites.handlers[emu.origin.lower()] = cocalc_site

    cells = [
        "from cocalc_widgets.frame import CoCalcFrame\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', host={emu.url!r},\n"
        "                    auth_token=open('forged-token.txt').read(),\n"
        "                    sign_in='url', height=300, timeout=20)\n"
        "frame",
        "h = frame.status(timeout=6)\nprint('ISSUED', h.state)",
        "from cocalc_widgets.errors import FrameNotReady\n"
        "try:\n"
        "    r = await h\n"
        "    print('RESOLVED', r)\n"
        "except FrameNotReady as e:\n"
        "    print('TIMEOUT', type(e).__name__)\n"
        "    print('MESSAGE', e)\n"
        "print('READY', frame.ready, frame.connection, frame.open_files)\n"
        "print('LOG', [e.get('event', {}).get('filename') for e in frame.project_log])\n"
        "print('PAGE_ORIGIN', frame.page_origin)",
    ]
    write_notebook(lab.root_dir / "frame_forged.ipynb", cells)
    nb = LabNotebook(page, lab, "frame_forged.ipynb").open()
    nb.run_cell(0)
    frame = page.frame_locator(FRAME)
    frame.locator("#file-text").wait_for(timeout=20000)  # signed in with &auth_token=
    assert "silent cocalc" in frame.locator("#file-text").inner_text()
    out = nb.run_cell(1)
    assert _lines(out, "ISSUED") == ["sent"], out

    # Forged replies and project-log events: from the notebook's own window, from a window of
    # another origin, and from a window of CoCalc's origin that is not the IFrame.
    page.evaluate(
        """([forged]) => {
        for (let i = 0; i < 10; i++) {
          window.postMessage(forged.reply, "*");
          window.postMessage(forged.log, "*");
        }
        for (const src of forged.srcs) {
          const f = document.createElement("iframe");
          f.src = src;
          f.className = "forger";
          document.body.append(f);
        }
      }""",
        [
            {
                "reply": {"status": "done", "connection": {"quality": "forged"}, "open_files": {}},
                "log": {
                    "source": "cocalc-project-log",
                    "payload": {"project_log": {"event": {"filename": "FORGED"}}},
                },
                "srcs": [f"{other}/forge.html", f"{emu.url}/forge.html"],
            }
        ],
    )
    page.frame_locator("iframe.forger").first.get_by_text("forger").wait_for(timeout=10000)
    t0 = time.monotonic()
    out = nb.run_cell(2, timeout=30)
    assert _lines(out, "TIMEOUT") == ["FrameNotReady"], out
    message = _lines(out, "MESSAGE")[0]
    assert "No reply from CoCalc to 'status' within 6 s" in message
    assert "status polls" in message and "iframe_comm_hosts" in message
    assert "kiosk" in message and "loading" in message
    assert lab.origin in message
    assert _lines(out, "READY") == ["False {} {}"], out
    log = json.loads(_lines(out, "LOG")[0].replace("'", '"'))
    assert "FORGED" not in log
    assert log == ["hello.txt"], "the genuine project-log event (from the IFrame) arrives"
    assert _lines(out, "PAGE_ORIGIN") == [lab.origin], out
    assert time.monotonic() - t0 < 20  # the command's 6 s timeout, not the frame's 20 s
    status_line = page.locator(".cocalc-frame-status").first.inner_text()
    assert "ready" not in status_line.split("·")[1]
    page.evaluate("() => document.querySelectorAll('iframe.forger').forEach((f) => f.remove())")
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "frame-forged-and-silent-jupyterlab")

    # The notebook saved with its widget state: the frame is there, its token is not.
    saved = nb.save()
    text = json.dumps(saved)
    assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
    assert f"/projects/{pid}/files/hello.txt?fullscreen=kiosk" in text
    assert token not in text


DEFAULT_ALLOW = "clipboard-read; clipboard-write; fullscreen"


def _inside(page: Any, i: int) -> list[Any]:
    """What the page in IFrame ``i`` may use (as the browser decided at its last navigation):
    ``[fullscreen, clipboard-write]`` (Chromium's ``document.featurePolicy``)."""
    body = page.frame_locator(FRAME).nth(i).locator("body")
    return body.evaluate(
        "b => [document.fullscreenEnabled, document.featurePolicy"
        " ? document.featurePolicy.allowsFeature('clipboard-write') : null]"
    )


def test_frame_permissions_and_fullscreen_button_in_jupyterlab(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    emu = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=True)
    pid = _project(emu, {"hello.txt": "permissions\n", "other.txt": "the other file\n"})
    state = emu.state
    cells = [
        # 0: the default (clipboard and fullscreen delegated), signed in, in bridge mode
        "from cocalc_widgets import CoCalcClient, CoCalcFrame\n"
        f"client = CoCalcClient({state.api_key!r}, host={emu.url!r}, api='v1')\n"
        f"me = dict(client=client, account_id={state.account_id!r}, password={state.password!r})\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', height=300, timeout=20, **me)\n"
        "frame",
        # 1: allow='' (nothing delegated)
        f"off = CoCalcFrame({pid!r}, 'hello.txt', height=200, allow='', **me)\noff",
        # 2: navigate mode with fullscreen only
        f"nav = CoCalcFrame({pid!r}, 'hello.txt', height=200, mode='navigate',\n"
        "                  allow='fullscreen', timeout=20, **me)\n"
        "nav",
        # 3: the frames answer; their traits
        "s = await frame.status()\n"
        "print('STATUS', s['status'], frame.mode)\n"
        "print('ALLOW', repr(frame.allow), repr(off.allow), repr(nav.allow))",
        # 4: a change after display: the attribute changes, the page shown keeps what it had
        "frame.allow = ''\nnav.allow = 'clipboard-write'\nprint('CHANGED')",
        # 5: navigate mode's next page gets the new value
        "r = await nav.open_file('other.txt')\nprint('NAV', r['status'], r['mode'])",
    ]
    write_notebook(lab.root_dir / "frame_permissions.ipynb", cells)
    nb = LabNotebook(page, lab, "frame_permissions.ipynb").open()
    for i in range(3):
        nb.run_cell(i)
    iframes = page.locator(FRAME)
    for i in range(3):
        page.frame_locator(FRAME).nth(i).locator("#file-text").wait_for(timeout=20000)
    out = nb.run_cell(3, timeout=40)
    assert _lines(out, "STATUS") == ["done bridge"], out
    assert _lines(out, "ALLOW") == [f"{DEFAULT_ALLOW!r} '' 'fullscreen'"], out

    # The attribute of each view's IFrame, and what the page inside it may use.
    assert iframes.nth(0).get_attribute("allow") == DEFAULT_ALLOW
    assert iframes.nth(1).get_attribute("allow") is None
    assert iframes.nth(2).get_attribute("allow") == "fullscreen"
    inside = [_inside(page, i) for i in range(3)]
    assert inside == [[True, True], [False, False], [True, False]], inside

    out = nb.run_cell(4)
    assert "CHANGED" in out, out
    page.wait_for_function(
        "() => !document.querySelectorAll('iframe.cocalc-frame-iframe')[0].hasAttribute('allow')"
    )
    assert iframes.nth(2).get_attribute("allow") == "clipboard-write"
    still = _inside(page, 0)
    assert still[0] is True, "the page shown keeps what it was loaded with (no reload)"
    out = nb.run_cell(5, timeout=40)
    assert _lines(out, "NAV") == ["done navigate"], out
    after = _inside(page, 2)
    assert after == [False, True], "navigate mode's next page has the new allow"

    # The fullscreen button: the whole frame (status line and CoCalc) fills the screen.
    button = page.locator(".cocalc-frame-fullscreen").first
    assert button.is_visible() and button.get_attribute("aria-pressed") == "false"
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "frame-permissions-jupyterlab")
    button.click()
    page.wait_for_function(
        "() => document.fullscreenElement !== null"
        " && document.fullscreenElement.classList.contains('cocalc-frame')"
    )
    # The button follows the document's fullscreenchange event, which may come a little later.
    pressed = (
        "(v) => document.querySelector('.cocalc-frame-fullscreen')"
        ".getAttribute('aria-pressed') === v"
    )
    page.wait_for_function(pressed, arg="true")
    viewport = page.evaluate("() => [window.innerWidth, window.innerHeight]")
    box = iframes.nth(0).bounding_box()
    assert box is not None and box["height"] > viewport[1] - 60, (box, viewport)
    assert "hello.txt" in page.frame_locator(FRAME).nth(0).locator("#kiosk-title").inner_text()
    screenshot(page, "frame-fullscreen-jupyterlab")
    # Esc is the browser's own way out; Playwright's key press reaches the page, not headless
    # Chromium's fullscreen handling, so the test leaves with the button (the other way out).
    button.click()
    page.wait_for_function("() => document.fullscreenElement === null")
    print("inside the IFrames [fullscreen, clipboard-write]:", inside)
    page.wait_for_function(pressed, arg="false")
    assert iframes.nth(0).bounding_box()["height"] == 300
