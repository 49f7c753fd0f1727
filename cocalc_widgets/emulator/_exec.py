"""The v1 ``project_exec`` endpoint: really runs a command in a project folder (opt-in only)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from ._api_v1 import OpError
from ._state import PathError
from ._values import js_loose_true, js_number, js_str

if TYPE_CHECKING:
    from ._api import ApiContext


def _truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]} (truncated at {limit} characters)"


def run_exec(ctx: ApiContext, mesg: dict) -> dict:
    """``{stdout, stderr, exit_code}``; raises :class:`OpError` like CoCalc's ``execute_code``."""
    project_id = mesg["project_id"]
    try:
        cwd = ctx.state.resolve(project_id, js_str(mesg.get("path") or ""), allow_root=True)
    except PathError as err:
        raise OpError(str(err)) from None
    if not cwd.is_dir():
        raise OpError(f"working directory '{js_str(mesg.get('path'))}' does not exist")
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
    env = {
        **os.environ,
        "HOME": str(ctx.state.project_dir(project_id)),
        "COCALC_PROJECT_ID": project_id,
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
        raise OpError(
            f"Error executing command '{command}' with args '{shown}' -- killed command "
            f"'{' '.join(argv)}' after {timeout:g}s, , "
        ) from None
    except OSError as err:
        raise OpError(f"Error executing command '{command}' with args '{shown}' -- {err}") from None
    limit = int(max_output) if max_output is not None else None
    stdout = _truncate(proc.stdout.decode("utf-8", "replace"), limit)
    stderr = _truncate(proc.stderr.decode("utf-8", "replace"), limit)
    if proc.returncode != 0 and err_on_exit:
        raise OpError(
            f"Error executing command '{command}' with args '{shown}' -- "
            f"exit code {proc.returncode}, {stderr}, {stdout}"
        )
    return {"stdout": stdout, "stderr": stderr, "exit_code": proc.returncode}
