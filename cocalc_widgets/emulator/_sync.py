"""The edit history of files the emulator wrote (conat ``sync.history``).

CoCalc keeps a file's history as patches of its sync system. The emulator has no editors: it
records a patch for each write through the API (v1 ``write_text_file_to_project``, v2
``write-text-file``, conat ``system.writeTextFileToProject``), in CoCalc's shape
(``{seq, time, mesg: {time, wall, patch, user_id, parents}}``, the patch in CoCalc's compressed
diff-match-patch form, one hunk replacing the old text). Other files have no history: no
patches, as CoCalc answers for a file never opened in an editor.
"""

from __future__ import annotations

import hashlib
import json
import time

from ._copy import iso
from ._ops import OpFailed
from ._state import EmulatorState
from ._values import is_uuid, js_str

HISTORY_MAX_BYTES = 256 * 1024
"""Texts larger than this are not kept in a patch (its hunk then carries only the lengths)."""


def record_write(
    state: EmulatorState,
    account_id: str,
    project_id: str,
    path: str,
    old: str | None,
    new: str,
) -> None:
    """Remember that ``account_id`` changed ``path`` from ``old`` (``None``: too large to have
    been read) to ``new``."""
    old_len = -1 if old is None else len(old)
    if old is None or len(old) > HISTORY_MAX_BYTES or len(new) > HISTORY_MAX_BYTES:
        old, new_kept = "", ""
    else:
        new_kept = new
    key = (project_id, path.strip("/"))
    with state.lock:
        patches = state.file_history.setdefault(key, [])
        users = state.file_history_users.setdefault(key, [])
        if account_id not in users:
            users.append(account_id)
        now = int(time.time() * 1000)
        if patches and now <= patches[-1]["time"]:
            now = patches[-1]["time"] + 1
        diffs = [[-1, old], [1, new_kept]] if old else [[1, new_kept]]
        hunk = [diffs, 0, 0, max(old_len, len(old)), len(new)]
        patches.append(
            {
                "seq": len(patches) + 1,
                "time": now,
                "mesg": {
                    "time": now,
                    "wall": now,
                    "patch": json.dumps([hunk], separators=(",", ":")),
                    "user_id": users.index(account_id),
                    "parents": [patches[-1]["time"]] if patches else [],
                },
            }
        )


def history(state: EmulatorState, account_id: str, opts: dict) -> dict:
    """``{patches, info}`` of a file (CoCalc's ``sync.history``)."""
    project_id, path = opts.get("project_id"), opts.get("path")
    if not is_uuid(project_id):
        raise OpFailed("invalid account_id or project_id -- all must be valid uuid's")
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed("user must be collaborator on source project")
    rel = js_str(path).strip("/")
    key = (str(project_id), rel)
    with state.lock:
        patches = [dict(p) for p in state.file_history.get(key, [])]
        users = list(state.file_history_users.get(key, []))
    info: dict = {}
    if patches:
        string_id = hashlib.sha1(f"{project_id}{rel}".encode()).hexdigest()
        info = {
            "doctype": json.dumps({"type": "string"}),
            "last_active": iso(patches[-1]["time"] / 1000),
            "path": rel,
            "project_id": project_id,
            "read_only": False,
            "string_id": string_id,
            "users": [*users, project_id],
        }
    start = opts.get("start_seq") or 0
    end = opts.get("end_seq")
    chosen = [
        p for p in patches if p["seq"] >= start and (not isinstance(end, int) or p["seq"] <= end)
    ]
    return {"patches": chosen, "info": info}
