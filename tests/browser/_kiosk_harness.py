"""A host page that embeds the kiosk page in an IFrame, and helpers to drive it from Playwright.

The page records every message it receives in ``window.received`` as
``{origin, fromFrame, data}`` and sends with ``window.send(payload)`` to the CoCalc origin.
"""

from __future__ import annotations

import json
import time
from typing import Any

PARENT_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>kiosk host</title></head>
<body>
<h1 id="host-title">host page</h1>
<iframe id="cocalc" src=__SRC__ style="width: 1000px; height: 560px"></iframe>
<script>
const COCALC = __ORIGIN__;
window.received = [];
window.addEventListener("message", (e) => {
  const frame = document.getElementById("cocalc");
  window.received.push({origin: e.origin, fromFrame: e.source === frame.contentWindow,
                        data: e.data});
});
window.send = (payload) =>
  document.getElementById("cocalc").contentWindow.postMessage(payload, COCALC);
window.pollReady = async (timeoutMs, everyMs) => {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const n = window.received.length;
    window.send({action: "status"});
    await new Promise((r) => setTimeout(r, everyMs));
    const got = window.received.slice(n).find((m) => m.data && m.data.status === "done");
    if (got) return {elapsed: Date.now() - start, reply: got.data};
  }
  return null;
};
</script>
</body></html>
"""


def parent_html(src: str, cocalc_origin: str) -> str:
    """The host page HTML for an IFrame showing ``src`` (messages go to ``cocalc_origin``)."""
    attr = json.dumps(src).replace("&", "&amp;")  # a quoted attribute value
    return PARENT_HTML.replace("__SRC__", attr).replace("__ORIGIN__", json.dumps(cocalc_origin))


def received(page: Any) -> list[dict[str, Any]]:
    """Every message the host page received so far."""
    return page.evaluate("window.received")


def replies(page: Any) -> list[dict[str, Any]]:
    """The data of the protocol replies the host page received (project-log events left out)."""
    return [
        m["data"]
        for m in received(page)
        if not (isinstance(m["data"], dict) and m["data"].get("source") == "cocalc-project-log")
    ]


def project_log(page: Any) -> list[dict[str, Any]]:
    """The ``cocalc-project-log`` messages the host page received."""
    return [
        m
        for m in received(page)
        if isinstance(m["data"], dict) and m["data"].get("source") == "cocalc-project-log"
    ]


def wait_ready(page: Any, timeout: float = 10.0, every: float = 0.1) -> dict[str, Any]:
    """Poll ``status`` until the kiosk page answers; returns ``{elapsed, reply}`` (ms)."""
    got = page.evaluate(f"window.pollReady({int(timeout * 1000)}, {int(every * 1000)})")
    assert got is not None, "the kiosk page never answered status"
    return got


def command(page: Any, payload: Any, n: int = 1, timeout: float = 5.0) -> list[Any]:
    """Send ``payload`` and return the next ``n`` replies (fails if fewer arrive in time)."""
    before = len(replies(page))
    page.evaluate("(p) => window.send(p)", payload)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = replies(page)[before:]
        if len(got) >= n:
            time.sleep(0.05)  # anything extra would show up now
            return replies(page)[before:]
        time.sleep(0.02)
    raise AssertionError(f"expected {n} replies to {payload!r}, got {replies(page)[before:]!r}")


def send_js(page: Any, expression: str) -> None:
    """Send a payload given as a JS expression (for undefined, null, strings, numbers)."""
    page.evaluate(f"window.send({expression})")


def no_reply(page: Any, payload_js: str, wait: float = 1.0) -> None:
    """Send a payload (a JS expression) and check that nothing at all comes back."""
    before = len(received(page))
    send_js(page, payload_js)
    time.sleep(wait)
    assert received(page)[before:] == []


SPY_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>spy</title></head><body>spy frame
<script>
window.received = [];
window.addEventListener("message", (e) => window.received.push({origin: e.origin, data: e.data}));
window.sendToKiosk = (payload, origin) =>
  window.parent.document.getElementById("cocalc").contentWindow.postMessage(payload, origin);
</script></body></html>
"""


def parent_with_spy_html(src: str, cocalc_origin: str, spy_src: str) -> str:
    """The host page plus a second, same-origin IFrame (``#spy``) that can also talk."""
    spy = f'<iframe id="spy" src={json.dumps(spy_src)} style="width: 300px; height: 60px"></iframe>'
    return parent_html(src, cocalc_origin).replace("</body>", spy + "\n</body>")


PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def notebook_json() -> str:
    """A small nbformat-4 notebook: markdown, a code cell with text, stream and image outputs."""
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "Some *markdown*."]},
            {
                "cell_type": "code",
                "execution_count": 3,
                "metadata": {},
                "source": "print('hi')\n6 * 7",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["hi\n"]},
                    {
                        "output_type": "execute_result",
                        "execution_count": 3,
                        "metadata": {},
                        "data": {"text/plain": ["42"]},
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": PNG_1PX, "text/plain": ["<Figure>"]},
                    },
                ],
            },
            {"cell_type": "markdown", "metadata": {}, "source": "<img src=x onerror=alert(3)>"},
        ],
    }
    return json.dumps(nb)


def populate(state: Any, title: str = "demo") -> str:
    """A project with ``notes.txt``, ``nb.ipynb`` and ``sub/inner.txt``; returns its id."""
    pid = state.create_project(title)
    root = state.data_dir / pid
    (root / "notes.txt").write_text("first line\nsecond <b>line</b>\n")
    (root / "nb.ipynb").write_text(notebook_json())
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_text("inner")
    return pid
