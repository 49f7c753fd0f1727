"""Running a command in a project folder (v1 ``project_exec``, v2 ``exec``, conat
``system.exec``): opt-in only, with CoCalc's ``execute_code`` options and errors."""

from __future__ import annotations

import os
import subprocess

from ._ops import ExecDisabled, OpFailed, require_collaborator
from ._state import EmulatorState, PathError
from ._values import js_loose_true, js_number, js_str


def _truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]} (truncated at {limit} characters)"


def run_exec(
    state: EmulatorState,
    account_id: str,
    project_id: object,
    mesg: dict,
    *,
    allow_exec: bool,
    name: str,
) -> dict:
    """``{stdout, stderr, exit_code}`` of ``mesg``'s command (fields as in ``project_exec``:
    ``command``, ``args``, ``path``, ``timeout`` (s, default 10), ``max_output``, ``bash``,
    ``err_on_exit`` (default true), ``env``); raises :class:`OpFailed` like CoCalc's
    ``execute_code``, :class:`ExecDisabled` (naming ``name``) unless ``allow_exec``."""
    if not allow_exec:
        raise ExecDisabled(name)
    project_id = require_collaborator(state, account_id, project_id, "write")
    if mesg.get("command") is None:
        raise OpFailed("command must be specified")
    try:
        cwd = state.resolve(project_id, js_str(mesg.get("path") or ""), allow_root=True)
    except PathError as err:
        raise OpFailed(str(err)) from None
    if not cwd.is_dir():
        raise OpFailed(f"working directory '{js_str(mesg.get('path'))}' does not exist")
    command = js_str(mesg["command"])
    args = mesg.get("args") or []
    if not isinstance(args, list):
        args = [args]
    args = [js_str(a) for a in args]
    bash = js_loose_true(mesg.get("bash")) or mesg.get("bash") == "true"
    timeout = js_number(mesg.get("timeout"))
    timeout = 10.0 if timeout is None else timeout
    max_output = js_number(mesg.get("max_output")) if mesg.get("max_output") is not None else None
    err_on_exit = mesg.get("err_on_exit") not in (False, "false", "False", 0, "0")
    argv = ["bash", "-c", command] if bash or not args else [command, *args]
    extra = mesg.get("env")
    if extra is not None and not isinstance(extra, dict):
        raise OpFailed("env must be an object")
    env = {
        **os.environ,
        "HOME": str(state.project_dir(project_id)),
        "COCALC_PROJECT_ID": project_id,
        **{str(k): js_str(v) for k, v in (extra or {}).items()},
    }
    shown = " ".join(args)
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=timeout if timeout > 0 else None,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OpFailed(
            f"Error executing command '{command}' with args '{shown}' -- killed command "
            f"'{' '.join(argv)}' after {timeout:g}s, , "
        ) from None
    except OSError as err:
        raise OpFailed(
            f"Error executing command '{command}' with args '{shown}' -- {err}"
        ) from None
    limit = int(max_output) if max_output is not None else None
    stdout = _truncate(proc.stdout.decode("utf-8", "replace"), limit)
    stderr = _truncate(proc.stderr.decode("utf-8", "replace"), limit)
    if proc.returncode != 0 and err_on_exit:
        raise OpFailed(
            f"Error executing command '{command}' with args '{shown}' -- "
            f"exit code {proc.returncode}, {stderr}, {stdout}"
        )
    return {"stdout": stdout, "stderr": stderr, "exit_code": proc.returncode}
