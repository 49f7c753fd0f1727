"""Running a command in a project folder (v1 ``project_exec``, v2 ``exec``, conat
``system.exec``): opt-in only, with CoCalc's ``execute_code`` options and errors."""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

from ._ops import ExecDisabled, OpFailed, require_collaborator
from ._state import EmulatorState, PathError
from ._values import js_loose_true, js_number, js_str


class ExecFailed(OpFailed):
    """An error of CoCalc's ``executeCode`` (the conat ``system.exec``): CoCalc passes it on
    as a plain string, so the bridge answers it without the ``Error: `` prefix of a thrown
    ``Error`` (as the real server does)."""


def _path() -> str:
    """``PATH`` with the emulator's Python first: a project's ``python3`` is the one whose
    packages (ipykernel, ...) the emulator runs with, as a CoCalc project has its own."""
    here = os.path.dirname(sys.executable)
    rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p != here]
    return os.pathsep.join([here, *rest])


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
    conat: bool = False,
) -> dict:
    """``{stdout, stderr, exit_code}`` of ``mesg``'s command (fields as in ``project_exec``:
    ``command``, ``args``, ``path``, ``timeout`` (s, default 10), ``max_output``, ``bash``,
    ``err_on_exit`` (default true), ``env``); raises :class:`OpFailed` like CoCalc's
    ``execute_code``, :class:`ExecDisabled` (naming ``name``) unless ``allow_exec``.

    ``conat``: as a current project's ``system.exec`` (CoCalc's ``executeCode``): default
    timeout 60 s, a command with spaces and no args runs under bash, a non-zero exit answers
    ``command '...' exited with nonzero code N -- stderr='...'``, and the result has
    ``type: "blocking"``."""
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
    timeout = (60.0 if conat else 10.0) if timeout is None else timeout
    if conat:
        return _execute_code(cwd, command, args, bash, timeout, mesg, state, project_id)
    max_output = js_number(mesg.get("max_output")) if mesg.get("max_output") is not None else None
    err_on_exit = mesg.get("err_on_exit") not in (False, "false", "False", 0, "0")
    argv = ["bash", "-c", command] if bash or not args else [command, *args]
    shown = " ".join(args)
    try:
        proc = _run(argv, cwd, mesg, state, project_id, timeout)
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


def _run(
    argv: list[str], cwd: Path, mesg: dict, state: EmulatorState, project_id: str, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in the project (its folder as ``HOME``, ``mesg``'s ``env`` added), output
    captured; ``subprocess.TimeoutExpired`` and ``OSError`` are the caller's to word."""
    extra = mesg.get("env")
    if extra is not None and not isinstance(extra, dict):
        raise OpFailed("env must be an object")
    env = {
        **os.environ,
        "PATH": _path(),
        "HOME": str(state.project_dir(project_id)),
        "COCALC_PROJECT_ID": project_id,
        **{str(k): js_str(v) for k, v in (extra or {}).items()},
    }
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout if timeout > 0 else None,
        check=False,
    )


def _trunc(text: str, limit: int = 1024) -> str:
    """CoCalc's ``trunc``: at most ``limit`` characters, the last one an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _execute_code(
    cwd: Path,
    command: str,
    args: list[str],
    bash: bool,
    timeout: float,
    mesg: dict,
    state: EmulatorState,
    project_id: str,
) -> dict:
    """``system.exec`` as CoCalc's ``executeCode`` runs it (see :func:`run_exec`)."""
    if not args and len(command.split()) > 1:
        bash = True
    elif bash and args:
        command, args = " ".join(shlex.quote(a) for a in [command, *args]), []
    if bash:
        argv = ["bash", "-c", f"ulimit -t {math.ceil(timeout)}\n{command}" if timeout else command]
        shown = command
    else:
        argv = [command, *args]
        shown = f"'{command}' (args={' '.join(args)})"
    try:
        proc = _run(argv, cwd, mesg, state, project_id, timeout)
    except subprocess.TimeoutExpired:
        raise ExecFailed(f"killed command '{' '.join(argv)}'") from None
    except OSError as err:
        raise ExecFailed(f"command '{shown}' was not able to run -- stderr='{err}'") from None
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    err_on_exit = mesg.get("err_on_exit") not in (False, "false", "False", 0, "0")
    if err_on_exit and proc.returncode != 0:
        raise ExecFailed(
            f"command '{shown}' exited with nonzero code {proc.returncode} -- "
            f"stderr='{_trunc(stderr)}'"
        )
    max_output = js_number(mesg.get("max_output")) if mesg.get("max_output") is not None else None
    if max_output is not None:
        limit = int(max_output)
        if len(stdout) >= limit:
            stdout = f"{stdout[:limit]} (truncated at {limit} characters)"
        if len(stderr) >= limit:
            stderr = f"{stderr[:limit]} (truncated at {limit} characters)"
    exit_code = proc.returncode if proc.returncode >= 0 else 1
    return {"type": "blocking", "stdout": stdout, "stderr": stderr, "exit_code": exit_code}
