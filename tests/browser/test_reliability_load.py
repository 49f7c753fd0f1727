"""Reliability under load: 1000 commands through one CoCalcFrame in JupyterLab, issued at once.

Mixed ``status``, ``open_file`` of existing and of missing files, unknown actions and
``closeall``: none may be lost or answered twice, each must get its own reply (checked per
command: the reply's kind, its path, the unknown action's name, and every ``status`` reply's
``open_files`` against the state the kiosk page must have had at that point of the sequence), and
the frame's traits must be consistent at the end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _forgery import check_reply
from _jupyterlab import ISSUE_COMMANDS, JupyterLab, LabNotebook, write_notebook

pytestmark = pytest.mark.browser

N = 1000
EXISTING = ["a.txt", "notes/b.txt", "c.txt", "d.md"]
MISSING = ["missing-1.txt", "gone/missing-2.txt"]




def _commands(pid: str) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(N):
        k = (i * 13 + i // 7) % 20
        if k < 6:
            out.append(("status", {"action": "status"}))
        elif k < 10:
            path = EXISTING[(i // 3) % len(EXISTING)]
            out.append(("open", {"action": "open", "project_id": pid, "path": path}))
        elif k < 14:
            path = MISSING[i % len(MISSING)]
            out.append(("missing", {"action": "open", "project_id": pid, "path": path}))
        elif k < 19:
            out.append(("unknown", {"action": f"load-{i}"}))
        else:
            out.append(("closeall", {"action": "closeall"}))
    return out


CELL = """\
import asyncio, json, time
CMDS = json.loads(open("load-cmds.json").read())
logs = []
frame.on_project_log(logs.append)
t0 = time.perf_counter()
""" + ISSUE_COMMANDS + """issued = len(frame.pending)
await asyncio.gather(*handles, return_exceptions=True)
elapsed = time.perf_counter() - t0
traits = {"ready": frame.ready, "connection": frame.connection, "open_files": frame.open_files,
          "last_error": frame.last_error, "project_log": frame.project_log,
          "pending": len(frame.pending)}
final = await frame.status()
json.dump({"out": [{"reply": h.reply, "ack": h.ack, "state": h.state,
                    "error": str(h.error) if h.error else None} for h in handles],
           "issued": issued, "elapsed": elapsed, "traits": traits, "logs": logs,
           "final": final, "final_open_files": frame.open_files},
          open("load-out.json", "w"), default=str)
print("LOAD", len(handles), round(len(handles) / elapsed), "commands/s")
"""


def test_thousand_commands_through_one_frame(
    lab: JupyterLab, kiosk_emulator: Any, page: Any, screenshot: Any
) -> None:
    emu = kiosk_emulator(dev_http_origins=[lab.origin], require_sign_in=False)
    pid = emu.state.create_project(title="load")
    root = emu.state.project_dir(pid)
    for rel in ["hello.txt", *EXISTING]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"text of {rel}\n")
    cmds = _commands(pid)
    (lab.root_dir / "load-cmds.json").write_text(json.dumps(cmds))
    cells = [
        "from cocalc_widgets.frame import CoCalcFrame\n"
        f"frame = CoCalcFrame({pid!r}, 'hello.txt', host={emu.url!r}, height=260, timeout=120)\n"
        "frame",
        "s = await frame.status()\nprint('READY', frame.ready, s['status'])",
        CELL,
    ]
    write_notebook(lab.root_dir / "load.ipynb", cells)
    nb = LabNotebook(page, lab, "load.ipynb").open()
    nb.run_cell(0)
    out = nb.run_cell(1, timeout=40)
    assert "READY True done" in out, out
    out = nb.run_cell(2, timeout=150)
    assert f"LOAD {N}" in out, out
    res = json.loads((lab.root_dir / "load-out.json").read_text())
    assert res["issued"] == N

    # Replay the sequence: what the kiosk page's open_files must be at each status.
    open_files: list[str] = ["hello.txt"]  # the page's own file
    problems = []
    last_status = None
    last_error = ""
    opened = 0
    for i, ((kind, payload), got) in enumerate(zip(cmds, res["out"], strict=True)):
        expected_state = "error" if kind in ("missing", "unknown") else "done"
        why = None
        if got["state"] != expected_state:
            why = f"state {got['state']} ({got['error']})"
        else:
            why = check_reply(kind, payload, got["reply"], got["ack"])
        if why is None and kind == "status":
            want = {pid: open_files} if open_files else {}
            if got["reply"]["open_files"] != want:
                why = f"open_files {got['reply']['open_files']} != {want}"
            last_status = got["reply"]
        if why:
            problems.append((i, kind, why))
        if kind == "open":
            opened += 1
            if payload["path"] not in open_files:
                open_files.append(payload["path"])
        elif kind == "closeall":
            open_files = []
        if expected_state == "error":
            last_error = f"CoCalc answered {payload['action']!r} with an error: " + str(
                (got["reply"] or {}).get("mesg")
            )
    assert not problems, problems[:10]

    traits = res["traits"]
    assert traits["ready"] is True and traits["pending"] == 0
    assert last_status is not None
    assert traits["connection"] == last_status["connection"]
    assert traits["open_files"] == last_status["open_files"]
    assert traits["last_error"] == last_error
    # Every open of an existing file logged one event, in order, and nothing else did.
    names = [e["event"]["filename"] for e in res["logs"]]
    assert names == [p["path"] for k, p in cmds if k == "open"]
    assert len(res["logs"]) == opened >= 100
    assert [e["id"] for e in traits["project_log"]] == [e["id"] for e in res["logs"]][-100:]
    want_final = {pid: open_files} if open_files else {}
    assert res["final"]["open_files"] == want_final == res["final_open_files"]
    page.locator(".cocalc-frame").first.scroll_into_view_if_needed()
    screenshot(page, "reliability-load-jupyterlab")
    print(f"{N} commands in {res['elapsed']:.2f} s ({N / res['elapsed']:.0f}/s)")
