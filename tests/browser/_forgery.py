"""Forged CoCalc messages for the reliability tests, and a fast-tier host page for the widget.

- :data:`FORGER_HTML`: a page that, when its parent posts ``{forge: cfg}`` to it, posts
  ``cfg.rounds`` rounds of forged replies and project-log events to its parent (target ``"*"``),
  one round every ``cfg.every`` ms, then ``{forgerDone: count}``; it answers any ``{action}``
  message like CoCalc would (a CoCalc at the wrong origin).
- :data:`FORGE_JS`: the same forging loop, defined as ``window.forge(target, cfg, done)``.
- :func:`host_app`: a WSGI app serving ``/frame.js`` (the widget's real front-end module) and
  ``/host.html``, a plain page that renders the widget with a fake anywidget model: every message
  the widget sends to "Python" lands in ``window.sent``; ``window.deliver(msg)`` plays a message
  from Python.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FRAME_JS = ROOT / "js" / "frame.js"

#: Marker in every forged message that has room for one.
FORGED = "FORGED"

FORGE_JS = """
window.forgedShapes = (cfg) => {
  const pid = cfg.pid;
  const shapes = [
    // exact copies of CoCalc's replies, as the real page sends them
    {status: "done", connection: {quality: "good", status: "connected", status_time: 1, ping: 1},
     open_files: {[pid]: ["FORGED.txt"]}},
    {status: "done", mesg: "all files are closed"},
    {status: "done"},
    {status: "ack"},
    {status: "error", mesg: "FORGED error"},
    {status: "error", mesg: "Unknown action 'FORGED'"},
    // a project-log event, with a forged and with a real-looking file name
    {source: "cocalc-project-log", payload: {project_log: {
      event: {event: "open", action: "open", filename: "FORGED.txt"}, project_id: pid,
      time: new Date(), id: "FORGED-log"}}},
    {source: "cocalc-project-log", payload: {project_log: {
      event: {event: "open", action: "open", filename: cfg.existing[0]}, project_id: pid,
      time: new Date(), id: "FORGED-copy"}}},
    // nonsense shapes
    null, 42, "done", [], {status: "done", connection: "FORGED"}, {status: "weird"},
  ];
  for (const path of [...cfg.existing, ...cfg.missing]) {
    // acks and dones exactly like the real ones of every open the test issues
    shapes.push({status: "ack", action: "open", path, project_id: pid});
    shapes.push({status: "done", action: "open", path, project_id: pid});
    shapes.push({status: "error", action: "open", path, project_id: pid, mesg: "FORGED open"});
  }
  for (const action of cfg.actions || []) {
    shapes.push({status: "done", action});
  }
  return shapes;
};
window.forge = (target, cfg, done) => {
  const shapes = window.forgedShapes(cfg);
  let rounds = cfg.rounds;
  let count = 0;
  const tick = () => {
    for (const s of shapes) {
      target.postMessage(s, "*");
      count += 1;
    }
    if (--rounds > 0) setTimeout(tick, cfg.every);
    else done(count);
  };
  tick();
};
"""

FORGER_HTML = (
    "<!doctype html><html><body><p>forger</p><script>"
    + FORGE_JS
    + """
if (location.search.includes("spam")) {
  // Loaded into the frame's own IFrame: the relay's polls target CoCalc's origin and never
  // reach this page, so it posts CoCalc-like replies and project-log events unasked.
  window.answered = 0;
  setInterval(() => {
    window.parent.postMessage({status: "done", connection: {quality: "good"}, open_files: {}}, "*");
    window.parent.postMessage({status: "done"}, "*");
    window.parent.postMessage({source: "cocalc-project-log",
                               payload: {project_log: {event: {filename: "FORGED.txt"}}}}, "*");
    window.answered += 1;
  }, 30);
}
window.addEventListener("message", (e) => {
  if (e.data && typeof e.data.action === "string") {
    // Answer like CoCalc would, from the wrong origin.
    const r = e.data.action === "status"
      ? {status: "done", connection: {quality: "good", status: "connected"}, open_files: {}}
      : {status: "done", action: e.data.action, path: e.data.path, project_id: e.data.project_id};
    e.source.postMessage(r, "*");
    window.answered = (window.answered || 0) + 1;
    return;
  }
  if (!e.data || !e.data.forge) return;
  window.forge(window.parent, e.data.forge, (count) =>
    window.parent.postMessage({forgerDone: count, who: location.origin}, "*"));
});
</script></body></html>"""
)

HOST_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>widget host</title></head>
<body><div id="root" style="width: 900px"></div>
<script>__FORGE_JS__</script>
<script type="module">
import widget from "/frame.js";
window.sent = [];
window.forgerDone = [];
const handlers = {};
const state = __STATE__;
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; },
  on: (ev, cb) => { (handlers[ev] = handlers[ev] || []).push(cb); },
  off: (ev, cb) => { handlers[ev] = (handlers[ev] || []).filter((f) => f !== cb); },
  send: (msg) => { window.sent.push(JSON.parse(JSON.stringify(msg))); },
  save_changes: () => {},
};
window.addEventListener("message", (e) => {
  if (e.data && e.data.forgerDone) window.forgerDone.push(e.data);
});
window.deliver = (msg) => { for (const cb of handlers["msg:custom"] || []) cb(msg); };
widget.render({ model, el: document.getElementById("root") });
window.rendered = true;
</script></body></html>
"""


def host_app(state: dict[str, Any], extra: dict[str, str] | None = None) -> Any:
    """WSGI app: ``/host.html`` (the widget on a fake model with ``state`` as its traits,
    read at each request), ``/frame.js``, ``/forge.html``."""
    from werkzeug.wrappers import Request, Response

    pages = {
        "/frame.js": (FRAME_JS.read_text(), "text/javascript"),
        "/forge.html": (FORGER_HTML, "text/html"),
    }
    for path, body in (extra or {}).items():
        pages[path] = (body, "text/html")

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/host.html":  # rendered per request: ``state`` may be filled late
            html = HOST_HTML.replace("__STATE__", json.dumps(state))
            return Response(html.replace("__FORGE_JS__", FORGE_JS), mimetype="text/html")
        hit = pages.get(request.path)
        if hit is None:
            return Response("not found", status=404)
        return Response(hit[0], mimetype=hit[1])

    return app


def check_reply(kind: str, payload: dict[str, Any], reply: Any, ack: Any = None) -> str | None:
    """Why ``reply`` is not the right final reply of a command of ``kind`` (None if it is).

    Kinds: ``status``, ``open`` (an existing file), ``missing`` (open of a missing file),
    ``unknown`` (an unknown action), ``closeall``.
    """
    if not isinstance(reply, dict):
        return f"not a dict: {reply!r}"
    if FORGED in json.dumps(reply, default=str) or FORGED in json.dumps(ack, default=str):
        return f"forged: {reply!r} (ack {ack!r})"
    st = reply.get("status")
    if kind == "status":
        conn = reply.get("connection")
        if st != "done" or not isinstance(conn, dict) or conn.get("quality") != "good":
            return f"not a status reply: {reply!r}"
        if not isinstance(reply.get("open_files"), dict):
            return f"no open_files: {reply!r}"
    elif kind == "open":
        if reply != {"status": "done", "action": "open", "path": payload["path"],
                     "project_id": payload["project_id"]}:
            return f"not the done of this open: {reply!r}"
        if ack != {**reply, "status": "ack"}:
            return f"not the ack of this open: {ack!r}"
    elif kind == "missing":
        if st != "error" or reply.get("path") != payload["path"] or not reply.get("mesg"):
            return f"not the error of this open: {reply!r}"
        if reply.get("action") != "open" or reply.get("project_id") != payload["project_id"]:
            return f"not the error of this open: {reply!r}"
    elif kind == "unknown":
        if reply != {"status": "error", "mesg": f"Unknown action '{payload['action']}'"}:
            return f"not this unknown action's error: {reply!r}"
    elif kind == "closeall":
        if reply != {"status": "done", "mesg": "all files are closed"}:
            return f"not a closeall reply: {reply!r}"
    else:
        raise ValueError(kind)
    return None
