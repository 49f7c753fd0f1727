"""Reliability: forged CoCalc messages from other windows and origins are never taken as replies.

Fast tier: the widget's real front-end module (js/frame.js) on a plain page with a fake anywidget
model, the emulator's kiosk page in its IFrame, and three forgers posting hundreds of messages
(exact copies of CoCalc's replies, acks, dones, project-log events, nonsense) while real commands
run: the page's own window, an IFrame of another origin, and an IFrame at CoCalc's own origin
that is not the frame's IFrame. Every real command must get its own reply, no forged message may
be taken as a reply, a readiness answer or a project-log event.

One Lab case does the same through a real kernel, JupyterLab and a ``CoCalcFrame``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from _forgery import FORGED, FORGER_HTML, check_reply, host_app
from _jupyterlab import ISSUE_COMMANDS, JupyterLab, LabNotebook, write_notebook

pytestmark = pytest.mark.browser

EXISTING = ["a.txt", "notes/b.txt", "c.txt"]
MISSING = ["missing-1.txt", "gone/missing-2.txt"]


def _project(state: Any) -> str:
    pid = state.create_project(title="forged")
    root = state.project_dir(pid)
    for rel in ["hello.txt", *EXISTING]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"text of {rel}\n")
    return pid


def _commands(pid: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` mixed commands ``(kind, payload)``, in a fixed pseudo-random order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        k = (i * 7 + i // 5) % 10
        if k < 3:
            out.append(("status", {"action": "status"}))
        elif k < 5:
            path = EXISTING[i % len(EXISTING)]
            out.append(("open", {"action": "open", "project_id": pid, "path": path}))
        elif k < 7:
            path = MISSING[i % len(MISSING)]
            out.append(("missing", {"action": "open", "project_id": pid, "path": path}))
        elif k < 9:
            out.append(("unknown", {"action": f"x-{i}"}))
        else:
            out.append(("closeall", {"action": "closeall"}))
    return out


def _forge_cfg(pid: str, rounds: int, every: int, actions: list[str]) -> dict[str, Any]:
    return {"pid": pid, "existing": EXISTING, "missing": MISSING, "rounds": rounds,
            "every": every, "actions": actions}


def test_forged_messages_fast_tier(
    kiosk_emulator: Any, serve_http: Any, fake_https_sites: Any, page: Any, screenshot: Any
) -> None:
    other = serve_http({"/forge.html": FORGER_HTML})  # another origin (another port)
    # The emulator must allow the host page's origin, and the page needs the emulator's URL:
    # the host app reads its traits from this dict at each request.
    state: dict[str, Any] = {}
    host = serve_http(host_app(state))
    emu = kiosk_emulator(dev_http_origins=[host], require_sign_in=False,
                         kiosk_startup_delay=0.5)
    pid = _project(emu.state)

    # A window at CoCalc's own origin that is not the frame's IFrame.
    def cocalc_site(route: Any, request: Any) -> None:
        if request.url.split("?")[0].endswith("/forge.html"):
            route.fulfill(status=200, body=FORGER_HTML, content_type="text/html")
        else:
            route.continue_()

    fake_https_sites.handlers[emu.origin.lower()] = cocalc_site

    state.update(_url=f"{emu.url}/projects/{pid}/files/hello.txt?fullscreen=kiosk&session=",
                 _origin=emu.origin, _impersonate_url=f"{emu.url}/auth/impersonate",
                 _signin="none", _kiosk=True, height="260px")

    cmds = _commands(pid, 400)
    actions = sorted({p["action"] for k, p in cmds if k == "unknown"})[:40]
    cfg = _forge_cfg(pid, rounds=8, every=40, actions=actions)

    page.goto(f"{host}/host.html")
    page.wait_for_function("window.rendered === true")
    # Forgers start before CoCalc answers (the page listens after 0.5 s): none may make it ready.
    page.evaluate(
        """([cfg, srcs]) => {
        for (const src of srcs) {
          const f = document.createElement("iframe");
          f.className = "forger";
          f.style.cssText = "width: 200px; height: 40px";
          f.addEventListener("load", () => f.contentWindow.postMessage({forge: cfg}, "*"));
          f.src = src;
          document.body.append(f);
        }
        window.forge(window, cfg, (count) => window.forgerDone.push({forgerDone: count,
                                                                     who: "self"}));
      }""",
        [cfg, [f"{other}/forge.html", f"{emu.url}/forge.html"]],
    )
    page.wait_for_function("window.sent.some((m) => m.kind === 'hello')")
    view = page.evaluate("window.sent.find((m) => m.kind === 'hello').view")
    page.evaluate("(view) => window.deliver({kind: 'setup', leader: view, cmds: []})", view)
    page.wait_for_function("window.sent.some((m) => m.kind === 'state' && m.ready)",
                           timeout=15000)
    ready = page.evaluate("window.sent.find((m) => m.kind === 'state' && m.ready)")
    assert check_reply("status", {}, ready["reply"]) is None, ready

    # Real commands, in batches, while a second wave of forgery runs from all three sources.
    page.evaluate(
        """(cfg) => {
        window.forge(window, cfg, (count) => window.forgerDone.push({forgerDone: count,
                                                                     who: "self-2"}));
        for (const f of document.querySelectorAll("iframe.forger"))
          f.contentWindow.postMessage({forge: cfg}, "*");
      }""",
        {**cfg, "rounds": 25, "every": 30},
    )
    t0 = time.monotonic()
    wire = [{"id": i + 1, "payload": p, "timeout_ms": 60000} for i, (_, p) in enumerate(cmds)]
    for start in range(0, len(wire), 50):
        page.evaluate("(cmds) => window.deliver({kind: 'cmd', cmds})", wire[start : start + 50])
        page.wait_for_timeout(20)
    page.wait_for_function(
        f"window.sent.filter((m) => m.kind === 'reply').length >= {len(cmds)}", timeout=60000
    )
    elapsed = time.monotonic() - t0
    page.wait_for_function("window.forgerDone.length >= 6", timeout=20000)
    sent = page.evaluate("window.sent")
    done = page.evaluate("window.forgerDone")

    replies: dict[int, list[dict[str, Any]]] = {}
    for m in sent:
        if m["kind"] == "reply":
            replies.setdefault(m["id"], []).append(m)
    assert sorted(replies) == list(range(1, len(cmds) + 1)), "a command lost or unknown ids"
    problems = []
    for i, (kind, payload) in enumerate(cmds, 1):
        got = replies[i]
        if len(got) != 1:
            problems.append((i, kind, f"{len(got)} replies"))
            continue
        why = check_reply(kind, payload, got[0]["reply"], got[0].get("ack"))
        if why:
            problems.append((i, kind, why))
    assert not problems, problems[:10]

    logs = [m["event"] for m in sent if m["kind"] == "log"]
    opened = sum(1 for kind, _ in cmds if kind == "open")
    assert all(FORGED not in json.dumps(e) for e in logs), logs
    assert len(logs) == 1 + opened, (len(logs), opened)  # the first page's event, then each open
    # An ack goes to Python only when an open's done (or error) is later than ACK_DELAY_MS
    # (250 ms), which a loaded machine under this flood may cause: then it is the ack of that
    # open (of an existing file or of a missing one: CoCalc acks both), with its one reply.
    opens = {i: p for i, (kind, p) in enumerate(cmds, 1) if kind in ("open", "missing")}
    acks = [m for m in sent if m["kind"] == "ack"]
    assert all(
        m["id"] in opens
        and m["ack"] == {"status": "ack", "action": "open", "path": opens[m["id"]]["path"],
                         "project_id": pid}
        for m in acks
    ), acks
    assert len({m["id"] for m in acks}) == len(acks), acks  # at most one ack a command
    forged_total = sum(d["forgerDone"] for d in done)
    assert {d["who"] for d in done} == {"self", "self-2", other, emu.origin}
    assert forged_total >= 1000, forged_total
    status = page.locator(".cocalc-frame-status").inner_text()
    assert status.startswith("CoCalc · ready"), status
    screenshot(page, "reliability-forged-fast-tier")
    print(f"{len(cmds)} commands in {elapsed:.2f} s with {forged_total} forged messages")


def test_frame_navigated_to_another_origin_is_not_cocalc(
    kiosk_emulator: Any, serve_http: Any, page: Any
) -> None:
    """The frame's own IFrame, once at another origin, answers like CoCalc: never accepted."""
    other = serve_http({"/forge.html": FORGER_HTML})
    state: dict[str, Any] = {}
    host = serve_http(host_app(state))
    emu = kiosk_emulator(dev_http_origins=[host], require_sign_in=False, kiosk_startup_delay=0)
    pid = _project(emu.state)
    state.update(_url=f"{emu.url}/projects/{pid}/files/hello.txt?fullscreen=kiosk&session=",
                 _origin=emu.origin, _impersonate_url="", _signin="none", _kiosk=True,
                 height="200px")
    page.goto(f"{host}/host.html")
    page.wait_for_function("window.sent.some((m) => m.kind === 'hello')")
    view = page.evaluate("window.sent.find((m) => m.kind === 'hello').view")
    page.evaluate("(view) => window.deliver({kind: 'setup', leader: view, cmds: []})", view)
    page.wait_for_function("window.sent.some((m) => m.kind === 'state' && m.ready)")
    # The page inside the IFrame goes elsewhere (a link, a redirect): the relay polls again.
    before = page.evaluate("window.sent.length")
    page.evaluate("(src) => { document.querySelector('iframe').src = src; }",
                  f"{other}/forge.html?spam")
    page.wait_for_function("window.sent.some((m) => m.kind === 'state' && !m.ready)")
    cmds = [{"id": i, "payload": {"action": "status"}, "timeout_ms": 60000} for i in range(1, 6)]
    page.evaluate("(cmds) => window.deliver({kind: 'cmd', cmds})", cmds)
    answered = 0
    for _ in range(30):  # wait until the impostor has posted for a while
        page.wait_for_timeout(100)
        impostor = next(f for f in page.frames if f.url.startswith(other))
        answered = impostor.evaluate("window.answered || 0")
        if answered >= 20:
            break
    assert answered >= 20, "the impostor did not post"
    sent = page.evaluate("window.sent")[before:]
    assert [m["ready"] for m in sent if m["kind"] == "state"] == [False]
    assert not [m for m in sent if m["kind"] in ("reply", "ack", "log")]




LAB_CELL = """\
import asyncio, json
from cocalc_widgets.errors import CommandError
CMDS = json.loads(open("cmds.json").read())
""" + ISSUE_COMMANDS + """await asyncio.gather(*handles, return_exceptions=True)
out = [{"reply": h.reply, "ack": h.ack, "state": h.state} for h in handles]
json.dump({"out": out, "log": frame.project_log, "connection": frame.connection,
           "open_files": frame.open_files, "pending": len(frame.pending)},
          open("forged-out.json", "w"), default=str)
print("DONE", len(out))
"""


def test_forged_messages_in_jupyterlab(
    lab: JupyterLab,
    kiosk_emulator: Any,
    serve_http: Any,
    fake_https_sites: Any,
    page: Any,
    screenshot: Any,
) -> None:
    emu = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=False)
    pid = _project(emu.state)
    other = serve_http({"/forge.html": FORGER_HTML})

    def cocalc_site(route: Any, request: Any) -> None:
        if request.url.split("?")[0].endswith("/forge.html"):
            route.fulfill(status=200, body=FORGER_HTML, content_type="text/html")
        else:
            route.continue_()

    fake_https_sites.handlers[emu.origin.lower()] = cocalc_site
    cmds = _commands(pid, 120)
    (lab.root_dir / "cmds.json").write_text(json.dumps(cmds))
    actions = sorted({p["action"] for k, p in cmds if k == "unknown"})
    cfg = _forge_cfg(pid, rounds=40, every=25, actions=actions)

    # The forgery goes at the bridge, so the frame must get there: mode "auto" as a user has it,
    # with a bridge_wait long enough for a kiosk page loading on a loaded machine (the default
    # 10 s once ran out there, and the frame rightly fell back to navigate mode: READY False).
    # The first command waits for that readiness within its timeout, the cell a little longer.
    bridge_wait, timeout = 30, 60
    cells = [
        "from cocalc_widgets.frame import CoCalcFrame\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', host={emu.url!r}, height=260,\n"
        f"                    timeout={timeout}, bridge_wait={bridge_wait})\n"
        "frame",
        "s = await frame.status()\nprint('READY', frame.ready, frame.mode, s['status'])",
        LAB_CELL,
    ]
    write_notebook(lab.root_dir / "forged_lab.ipynb", cells)
    nb = LabNotebook(page, lab, "forged_lab.ipynb").open()
    nb.run_cell(0)
    out = nb.run_cell(1, timeout=timeout + 30)
    assert "READY True bridge done" in out, out

    page.evaluate(FORGER_HTML.split("<script>")[1].split("window.addEventListener")[0])
    page.evaluate(
        """([cfg, srcs]) => {
        window.forgerDone = [];
        window.addEventListener("message", (e) => {
          if (e.data && e.data.forgerDone) window.forgerDone.push(e.data);
        });
        const go = () => {
          window.forge(window, cfg, (count) => window.forgerDone.push({forgerDone: count,
                                                                       who: "lab"}));
          for (const f of document.querySelectorAll("iframe.forger"))
            f.contentWindow.postMessage({forge: cfg}, "*");
        };
        let loaded = 0;
        for (const src of srcs) {
          const f = document.createElement("iframe");
          f.className = "forger";
          f.style.cssText = "position: fixed; bottom: 0; right: 0; width: 120px; height: 40px";
          f.addEventListener("load", () => { if (++loaded === srcs.length) window.goForge = go; });
          f.src = src;
          document.body.append(f);
        }
      }""",
        [cfg, [f"{other}/forge.html", f"{emu.url}/forge.html"]],
    )
    page.wait_for_function("typeof window.goForge === 'function'", timeout=15000)
    page.evaluate("window.goForge()")
    out = nb.run_cell(2, timeout=90)
    assert "DONE 120" in out, out
    page.wait_for_function("window.forgerDone.length >= 3", timeout=20000)
    done = page.evaluate("window.forgerDone")
    assert {d["who"] for d in done} == {"lab", other, emu.origin}
    forged_total = sum(d["forgerDone"] for d in done)
    assert forged_total >= 1000, forged_total

    result = json.loads((lab.root_dir / "forged-out.json").read_text())
    problems = []
    for i, ((kind, payload), got) in enumerate(zip(cmds, result["out"], strict=True)):
        expected_state = "error" if kind in ("missing", "unknown") else "done"
        if got["state"] != expected_state:
            problems.append((i, kind, got))
            continue
        why = check_reply(kind, payload, got["reply"], got["ack"])
        if why:
            problems.append((i, kind, why))
    assert not problems, problems[:10]
    assert result["pending"] == 0
    assert FORGED not in json.dumps(result["log"]) + json.dumps(result["connection"])
    assert FORGED not in json.dumps(result["open_files"])
    assert result["connection"].get("quality") == "good"
    page.evaluate("() => document.querySelectorAll('iframe.forger').forEach((f) => f.remove())")
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "reliability-forged-jupyterlab")
