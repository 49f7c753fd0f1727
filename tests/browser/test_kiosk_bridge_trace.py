"""Replay the IFrame bridge trace recorded from a real CoCalc (``tools/record-traces --bridge``,
``tests/conformance/traces/bridge.json``) against the emulator's kiosk page, in Chromium.

The recorder embedded CoCalc's real kiosk page in a parent page over https, signed in through
``/auth/impersonate``, posted a fixed list of commands and kept every message the parent
received after each, scrubbed (ids, times and Dates as placeholders; keys, texts and value
types kept). Here the same commands go to the emulator's kiosk page (``kiosk="stuck"``, as
CoCalc master behaves) embedded the same way, its messages are scrubbed by the recorder's own
code, and each command's messages must equal CoCalc's: the same kinds in the same order, the
same keys, texts and value types. A command where the emulator knowingly differs is in
``KNOWN`` with the reason (README's list of differences says the same), and must still differ.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

import pytest
from _kiosk_harness import parent_html, received, wait_ready

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "tests" / "conformance" / "traces" / "bridge.json"
_loader = SourceFileLoader("record_traces", str(ROOT / "tools" / "record-traces"))
recorder = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("record_traces", _loader)
)
_loader.exec_module(recorder)

COCALC = "https://cocalc.test"
PARENT = "https://parent.test"
#: How long to listen after each command's answer for what follows on its own (the recorder
#: listened 5 s against the real server; the emulator answers at once).
SETTLE = 1.0

#: Where the emulator knowingly differs from the recorded CoCalc: the step's note -> why.
#: README's list of the emulator's differences says the same.
KNOWN: dict[str, str] = {
    "open a missing file": (
        "CoCalc opens an editor on the missing file (ack, a project-log entry, done); the "
        "emulator has no editors and answers an error after the ack, with no log entry"
    ),
    "open in an unknown project": (
        "CoCalc acks and then never answers (its open_project throws, and the bridge sends "
        "nothing); the emulator answers an error after the ack, so that a caller is not left "
        "waiting"
    ),
}
#: CoCalc's later updates of project-log entries (``event: {time}``, once an editor has
#: rendered): the emulator has no editor and sends none.
KNOWN_UPDATES = "the emulator sends no project-log updates (it has no editors that render)"


def _filled(payload: Any, names: dict[str, str]) -> Any:
    text = json.dumps(payload)
    for placeholder, real in names.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


@pytest.mark.skipif(not TRACE.exists(), reason="no bridge trace recorded")
def test_bridge_trace_against_the_emulator(kiosk_emulator, fake_https_sites, page):
    doc = json.loads(TRACE.read_text())
    emu = kiosk_emulator(
        iframe_comm_hosts="parent.test", samesite_remember_me="none", kiosk="stuck"
    )
    pid = emu.state.create_project("bridge")
    for name, text in doc["files"].items():
        (emu.state.data_dir / pid / name).write_text(text)
    token = emu.state.issue_token()
    fake_https_sites.proxy(COCALC, emu.url)
    kiosk = doc["kiosk_url"].replace("<cocalc-origin>", COCALC).replace("<project:bridge>", pid)
    fake_https_sites.html(PARENT, parent_html(kiosk + f"&auth_token={token}", COCALC))
    page.goto(PARENT + "/")
    wait_ready(page)
    time.sleep(SETTLE)

    unknown = str(uuid.UUID(int=3))
    names = {"<project:bridge>": pid, "<project:unknown>": unknown}
    scrub = recorder.Scrubber()
    scrub.name(pid, "project", "bridge")
    scrub.name(unknown, "project", "unknown")
    scrub.secret(COCALC, "<cocalc-origin>")
    differences = []
    updates: list[Any] = []
    for step in doc["steps"]:
        before = len(received(page))
        if step["payload"] is not None:
            page.evaluate("(p) => window.send(p)", _filled(step["payload"], names))
            recorder.listen_for(page, before, step["payload"]["action"], 10)
        time.sleep(SETTLE)
        messages = received(page)[before:]
        updates += [m for m in messages if recorder.is_log_update(m["data"])]
        got = [
            recorder.bridge_value(m, scrub)
            for m in messages
            if not recorder.is_log_update(m["data"])
        ]
        known = KNOWN.get(step["note"])
        if got != step["messages"] and known is None:
            differences.append(
                f"{step['note']}:\n  CoCalc   {json.dumps(step['messages'])}\n"
                f"  emulator {json.dumps(got)}"
            )
        elif got == step["messages"] and known is not None:
            differences.append(f"{step['note']}: KNOWN says it differs ({known}); it matches")
    got_updates = [recorder.bridge_value(m, scrub) for m in updates]
    if got_updates == doc["project_log_updates"]:
        differences.append(f"project-log updates: KNOWN says they differ ({KNOWN_UPDATES})")
    elif got_updates or not doc["project_log_updates"]:
        differences.append(
            f"project-log updates: CoCalc {doc['project_log_updates']} / emulator {got_updates}"
        )
    assert not differences, "\n".join(differences)
