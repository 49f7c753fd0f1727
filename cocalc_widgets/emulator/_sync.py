"""A file's edit history (conat ``sync.history``).

CoCalc keeps a file's history as the patches of its sync system: the edits made in its editors.
A file written through the API (v1 ``write_text_file_to_project``, v2 ``write-text-file``, conat
``system.writeTextFileToProject``) or by a command has none until someone opens it: the real
server answers ``{"patches": [], "info": {}}`` for it (tests/conformance/traces/more.json). The
emulator has no editors, so that is its answer for every file a collaborator asks about.
"""

from __future__ import annotations

from ._ops import OpFailed
from ._state import EmulatorState
from ._values import is_uuid


def history(state: EmulatorState, account_id: str, opts: dict) -> dict:
    """``{patches, info}`` of a file (CoCalc's ``sync.history``): empty, as for a file never
    opened in an editor."""
    project_id = opts.get("project_id")
    if not is_uuid(project_id):
        raise OpFailed("invalid account_id or project_id -- all must be valid uuid's")
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed("user must be collaborator on source project")
    return {"patches": [], "info": {}}
