"""A project's life cycle and its collaborators (conat ``projects.start``, ``stop``, ``touch``,
``state``, ``status``, ``deleteProject``, ``addCollaborator``, ``removeCollaborator``), with
CoCalc's checks and texts (``server/conat/api/projects.ts``, ``server/projects/*``).

States move as in CoCalc's single-user mode: ``opened`` (stopped) -> ``starting`` ->
``running`` -> ``stopping`` -> ``opened``. A stopped project keeps its files; stopping one ends
its Jupyter kernels. A deleted project keeps its files and its ``deleted`` flag is set.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

from ._copy import iso
from ._ops import OpFailed
from ._state import EmulatorState
from ._values import is_uuid, js_str

COLLAB_IDS = "invalid account_id or project_id -- all must be valid uuid's"


def _check_collaborator(
    state: EmulatorState, account_id: str, project_id: object, text: str
) -> str:
    """``project_id`` if the account is on the project; else ``OpFailed(text)`` (CoCalc's
    ``isCollaborator`` first refuses ids that are not uuids)."""
    if not is_uuid(account_id) or not is_uuid(project_id):
        raise OpFailed(COLLAB_IDS)
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed(text)
    return project_id  # type: ignore[return-value]


def start(state: EmulatorState, account_id: str, project_id: object) -> None:
    """Start the project (``starting``, then ``running``); nothing if it runs already."""
    pid = _check_collaborator(
        state, account_id, project_id, "must be collaborator on project to start it"
    )
    ensure_running(state, pid)


def ensure_running(state: EmulatorState, project_id: str) -> None:
    """Start the project unless it runs (what CoCalc's project bridge does before each call)."""
    project = state.projects.get(project_id)
    if project is None or project.state == "running":
        return
    state.set_project_state(project_id, "starting")
    state.set_project_state(project_id, "running")


def stop(
    state: EmulatorState,
    account_id: str,
    project_id: object,
    on_stop: Callable[[str], None],
) -> None:
    """Stop the project (``stopping``, then ``opened``); ``on_stop(project_id)`` ends what runs
    in it (its Jupyter kernels). Its files stay."""
    pid = _check_collaborator(
        state, account_id, project_id, "must be collaborator on project to stop it"
    )
    stop_project(state, pid, on_stop)


def stop_project(state: EmulatorState, project_id: str, on_stop: Callable[[str], None]) -> None:
    """Stop a project, no checks."""
    project = state.projects.get(project_id)
    if project is None:
        return
    if project.state != "opened":
        state.set_project_state(project_id, "stopping")
        on_stop(project_id)
    state.set_project_state(project_id, "opened")


def touch(state: EmulatorState, account_id: str, project_id: object) -> None:
    """Mark the project as in use (``last_edited``), starting it if it is not running."""
    pid = _check_collaborator(
        state, account_id, project_id, "must be collaborator on project to touch it"
    )
    state.touch_project(pid)
    ensure_running(state, pid)


def project_state(state: EmulatorState, account_id: str, project_id: object) -> dict:
    """``{ip, state, time}`` as CoCalc's single-user ``getState``."""
    pid = _check_collaborator(
        state, account_id, project_id, "must be collaborator on project to get state"
    )
    project = state.projects[pid]
    return {"ip": "127.0.0.1", "state": project.state, "time": iso(time.time())}


def project_status(
    state: EmulatorState, account_id: str, project_id: object, port: int | None = None
) -> dict:
    """CoCalc's single-user ``getStatus``, as the real server answers it: ``{}`` for a project
    that is not running, else its process id, the ports of its hub and browser servers (the
    emulator's own ``port``, where it serves the project), its start time and a session id
    (a uuid)."""
    pid = _check_collaborator(
        state, account_id, project_id, "must be collaborator on project to get status"
    )
    project = state.projects[pid]
    if project.state != "running":
        return {}
    return {
        "project.pid": os.getpid(),
        "hub-server.port": port,
        "browser-server.port": port,
        "start_ts": int(project.state_time * 1000),
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pid}/{project.state_time}")),
    }


def delete_project(
    state: EmulatorState,
    account_id: str,
    project_id: object,
    on_stop: Callable[[str], None],
) -> None:
    """Stop the project and set its ``deleted`` flag (a site admin may delete any project)."""
    if not is_uuid(project_id):
        raise OpFailed("project_id must be a valid UUID")
    if not is_uuid(account_id):
        raise OpFailed("account_id must be a valid UUID")
    pid: str = project_id  # type: ignore[assignment]
    if not state.is_site_admin(account_id) and not state.is_collaborator(account_id, pid):
        raise OpFailed("must be an owner to delete a project")
    if pid not in state.projects:
        # CoCalc's user query answers this for a project it has no row of.
        raise OpFailed(f"User {account_id} does not have write access to project {pid}")
    stop_project(state, pid, on_stop)
    state.set_project_deleted(pid)


def add_collaborator(state: EmulatorState, account_id: str, opts: object) -> dict:
    """``opts.account_id`` (one id or a list) joins ``opts.project_id`` (one or a list of the
    same length); the caller must be on every project. Answers ``{project_id}``."""
    if not isinstance(opts, dict):
        raise OpFailed("Cannot read properties of undefined (reading 'project_id')")
    if opts.get("token_id") is not None:
        raise OpFailed("Project invite token is not valid - no such token")
    projects = opts.get("project_id")
    accounts = opts.get("account_id")
    project_list = projects if isinstance(projects, list) else [projects]
    account_list = accounts if isinstance(accounts, list) else [accounts]
    for pid in project_list:
        if not pid:
            continue
        _check_manage(state, account_id, pid)
    for pid in project_list:
        if not state.is_collaborator(account_id, pid):
            raise OpFailed(f"user {account_id} does not have write access to project {js_str(pid)}")
    if len(account_list) != len(project_list):
        raise OpFailed(
            f"accounts (of length {len(account_list)}) and projects (of length "
            f"{len(project_list)}) must be arrays of the same length"
        )
    for aid in account_list:
        if not is_uuid(aid):
            raise OpFailed(f"all account id's must be valid uuid's, but \"{js_str(aid)}\" is not")
    for pid, aid in zip(project_list, account_list, strict=True):
        state.add_collaborator(pid, aid)
    return {"project_id": projects if isinstance(projects, list) else project_list}


def remove_collaborator(state: EmulatorState, account_id: str, opts: object) -> None:
    """``opts.account_id`` leaves ``opts.project_id`` at once: every API and page refuses it
    from now on. The owner cannot be removed."""
    if not isinstance(opts, dict):
        raise OpFailed("Cannot read properties of undefined (reading 'project_id')")
    project_id, target = opts.get("project_id"), opts.get("account_id")
    if not is_uuid(project_id) or not is_uuid(account_id):
        raise OpFailed(COLLAB_IDS)
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed("user must be a collaborator")
    if not is_uuid(target):
        raise OpFailed(f"Invalid account_id: {js_str(target)}")
    if target == state.account_id:
        raise OpFailed(
            "Cannot remove an owner. Demote to collaborator first.", name="OwnershipError"
        )
    state.remove_collaborator(project_id, target)  # type: ignore[arg-type]


def _check_manage(state: EmulatorState, account_id: str, project_id: object) -> None:
    """CoCalc's ``ensureCanManageCollaborators`` (ids, then the project must exist)."""
    if not is_uuid(project_id):
        raise OpFailed(f"Invalid project_id: {js_str(project_id)}")
    if not is_uuid(account_id):
        raise OpFailed(f"Invalid account_id: {account_id}")
    if project_id not in state.projects:
        raise OpFailed("Project not found", name="OwnershipError")
