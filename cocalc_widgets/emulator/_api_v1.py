"""API v1 endpoints (``POST /api/v1/<endpoint>``): field tables and handlers.

A handler gets the validated message (defaults filled in, ``id`` set) and returns the response
message, or raises :class:`OpError`, which the dispatcher turns into HTTP 200
``{"event":"error","id":...,"error":...}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._copy import WAIT_LIMIT_S, iso
from ._state import PathError, UnknownProject
from ._values import (
    is_uuid,
    js_loose_true,
    js_number,
    js_parse_int,
    js_str,
    js_strict_true,
    parse_date,
    pg_bool,
)

if TYPE_CHECKING:
    from ._api import ApiContext

REQUIRED = "__!!!!!!this is a required property!!!!!!__"
COPY_NOTE = (
    "Query copy_path_status with the copy_path_id to learn if the copy operation was successful."
)
BANNED = "banned -- please wait at least 60s before trying again"


class OpError(Exception):
    """An operation error: HTTP 200 with ``event: error``."""


# Field tables (message.js @ 2025-01, see the spec's Appendix 1). ``None`` = no default.
FIELDS: dict[str, dict[str, Any]] = {
    "ping": {"id": None},
    "copy_path_between_projects": {
        "id": None,
        "src_project_id": REQUIRED,
        "src_path": REQUIRED,
        "target_project_id": REQUIRED,
        "target_path": None,
        "overwrite_newer": False,
        "delete_missing": False,
        "backup": False,
        "timeout": None,
        "wait_until_done": False,
        "scheduled": None,
        "exclude": None,
    },
    "copy_path_status": {
        "copy_path_id": None,
        "src_project_id": None,
        "target_project_id": None,
        "src_path": None,
        "limit": 1000,
        "offset": None,
        "pending": True,
        "failed": False,
    },
    "copy_path_delete": {"copy_path_id": None},
    "write_text_file_to_project": {
        "id": None,
        "project_id": REQUIRED,
        "path": REQUIRED,
        "content": REQUIRED,
    },
    "read_text_file_from_project": {"id": None, "project_id": REQUIRED, "path": REQUIRED},
    "create_project": {
        "id": None,
        "title": "",
        "description": "",
        "image": None,
        "license": None,
        "start": False,
        "noPool": False,
    },
    "user_auth": {"id": None, "account_id": REQUIRED, "password": REQUIRED},
    "query": {
        "id": None,
        "query": REQUIRED,
        "changes": None,
        "multi_response": False,
        "options": None,
    },
    "project_exec": {
        "id": None,
        "project_id": REQUIRED,
        "path": "",
        "command": REQUIRED,
        "args": [],
        "timeout": 10,
        "aggregate": None,
        "max_output": None,
        "bash": False,
        "err_on_exit": True,
    },
}

# API endpoints of CoCalc v1 that the emulator does not implement: CoCalc answered a removed
# handler with ``unknown message event type``.
NOT_EMULATED = frozenset(
    {
        "user_search",
        "add_collaborator",
        "invite_collaborator",
        "remove_collaborator",
        "invite_noncloud_collaborators",
        "create_account",
        "change_password",
        "change_email_address",
        "copy_public_path_between_projects",
        "touch_project",
        "disconnect_from_project",
        "log_client_error",
        "get_available_upgrades",
        "get_usernames",
        "add_license_to_project",
        "remove_license_from_project",
        "create_support_ticket",
        "get_support_tickets",
        "purchase_license",
        "get_syncdoc_history",
        "chatgpt",
        "jupyter_execute",
        "jupyter_kernels",
    }
)
# Messages that exist in message.js but are not part of the HTTP API.
NOT_API = frozenset(
    {
        "sign_in",
        "sign_out",
        "api_key",
        "error",
        "success",
        "heartbeat",
        "signed_in",
        "version",
        "pong",
        "project_created",
    }
)


def _trunc(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _to_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def validate(event: str, body: object) -> dict:
    """``message[event](body, strict=true)``: fill defaults, reject missing/unknown fields.

    Raises ``ValueError`` with the text of CoCalc's ``misc.defaults`` error.
    """
    spec = FIELDS[event]
    obj2 = {"event": event, **{k: v for k, v in spec.items() if v is not None}}

    def where() -> str:
        return f"(obj1={_trunc(_to_json(body))}, obj2={_trunc(_to_json(obj2))})"

    if not isinstance(body, dict):
        raise ValueError(
            f"Error: BUG -- Traceback -- misc.defaults -- TypeError: function takes inputs as an "
            f"object {where()}"
        )
    if "event" in body:
        raise ValueError(
            "ValueError: must not define 'event' when calling message creation function "
            f"(opts={_to_json(body)}, obj={_to_json(obj2)})"
        )
    mesg: dict[str, Any] = {"event": event}
    for name, default in spec.items():
        if body.get(name) is not None:
            mesg[name] = body[name]
        elif default == REQUIRED:
            raise ValueError(
                f"Error: misc.defaults -- TypeError: property '{name}' must be specified: {where()}"
            )
        elif default is not None:
            mesg[name] = default
    for name in body:
        if name not in spec:
            raise ValueError(
                f"Error: misc.defaults -- TypeError: got an unexpected argument '{name}' {where()}"
            )
    return mesg


# -- access --------------------------------------------------------------------------------------
def _has_project(ctx: ApiContext, project_id: object) -> bool:
    return is_uuid(project_id) and project_id in ctx.state.projects


def _require_write(ctx: ApiContext, target: object) -> None:
    if not is_uuid(target):
        raise OpError(f"invalid target_project_id={js_str(target)}")
    if not _has_project(ctx, target):
        raise OpError(f"ACCESS BLOCKED -- No write access to target project -- {target}")


def _require_read(ctx: ApiContext, src: object) -> None:
    if not is_uuid(src):
        raise OpError(f"invalid src_project_id={js_str(src)}")
    if not _has_project(ctx, src):
        raise OpError(f"ACCESS BLOCKED -- No read access to source project -- {src}")


# -- handlers ------------------------------------------------------------------------------------
def ping(ctx: ApiContext, mesg: dict) -> dict:
    return {"event": "pong", "id": mesg["id"], "now": iso(time.time())}


def _bool_field(mesg: dict, name: str) -> bool:
    try:
        return pg_bool(mesg.get(name), name)
    except ValueError as err:
        raise OpError(str(err)) from None


def copy_path_between_projects(ctx: ApiContext, mesg: dict) -> dict:
    src, target = mesg["src_project_id"], mesg["target_project_id"]
    if not is_uuid(src):
        raise OpError(f"src_project_id='{js_str(src)}' not valid")
    if not is_uuid(target):
        raise OpError(f"target_project_id='{js_str(target)}' not valid")
    _require_write(ctx, target)
    _require_read(ctx, src)
    src_path = mesg["src_path"]
    target_path = mesg.get("target_path")
    if target_path is None:
        target_path = src_path
    if not isinstance(src_path, str) or not isinstance(target_path, str):
        raise OpError("src_path and target_path must be strings")
    exclude = mesg.get("exclude")
    if isinstance(exclude, str):
        exclude = [exclude]
    if exclude is not None and not (
        isinstance(exclude, list) and all(isinstance(p, str) for p in exclude)
    ):
        raise OpError("exclude must be an array of strings (rsync patterns)")
    timeout = None
    if mesg.get("timeout") is not None:
        timeout = js_number(mesg["timeout"])
        if timeout is None or timeout < 0:
            raise OpError(f"timeout='{js_str(mesg['timeout'])}' must be a number of seconds")
    scheduled_at = None
    if mesg.get("scheduled") is not None:
        scheduled_at = parse_date(mesg["scheduled"])
        if scheduled_at is None:
            raise OpError(f"opts.scheduled = '{js_str(mesg['scheduled'])}' is not a valid date")
    wait = js_loose_true(mesg.get("wait_until_done")) and scheduled_at is None
    try:
        op = ctx.copies.submit(
            source_project_id=src,
            source_path=src_path,
            target_project_id=target,
            target_path=target_path,
            overwrite_newer=_bool_field(mesg, "overwrite_newer"),
            delete_missing=_bool_field(mesg, "delete_missing"),
            backup=_bool_field(mesg, "backup"),
            exclude=exclude,
            timeout=timeout,
            scheduled_at=scheduled_at,
            api="v1",
        )
    except (PathError, UnknownProject) as err:
        raise OpError(str(err)) from None
    if wait:
        if not ctx.copies.wait(op, WAIT_LIMIT_S):
            raise OpError(
                f"timeout waiting for copy operation {op.copy_path_id} to finish "
                f"(waited {WAIT_LIMIT_S:g}s); it may still succeed"
            )
        if op.error:
            raise OpError(op.error)
        return {"event": "success", "id": mesg["id"]}
    return {
        "event": "copy_path_between_projects_response",
        "id": mesg["id"],
        "copy_path_id": op.copy_path_id,
        "note": COPY_NOTE,
    }


def _sanitize(value: object, default: int, maximum: int, name: str) -> int:
    if value is None:
        return default
    number: float | None
    if isinstance(value, str):
        parsed = js_parse_int(value)
        number = None if parsed is None else float(parsed)
    else:
        number = js_number(value)
    if number is None or number < 0 or number > maximum:
        raise OpError(f"ILLEGAL VALUE {name}='{js_str(value)}' (must be in [0, {maximum}])")
    return int(number)


def copy_path_status(ctx: ApiContext, mesg: dict) -> dict:
    search_many = (
        mesg.get("src_project_id") is not None or mesg.get("target_project_id") is not None
    )
    if not search_many and mesg.get("copy_path_id") is None:
        raise OpError(
            "'copy_path_id' (UUID) of a copy operation or 'src_project_id/target_project_id' "
            "must be defined"
        )
    if not search_many:
        op = ctx.copies.get(str(mesg["copy_path_id"]))
        if op is None:
            raise OpError(f"Can't find copy operation with ID={js_str(mesg['copy_path_id'])}")
        _require_write(ctx, op.target_project_id)
        _require_read(ctx, op.source_project_id)
        return {"event": "copy_path_status_response", "id": mesg["id"], "data": op.to_v1()}
    if mesg.get("src_project_id") is not None:
        _require_read(ctx, mesg["src_project_id"])
    if mesg.get("target_project_id") is not None:
        _require_write(ctx, mesg["target_project_id"])
    failed = js_strict_true(mesg.get("failed"))
    pending = False if failed else js_strict_true(mesg.get("pending"))
    offset = _sanitize(mesg.get("offset"), 0, 100 * 1000, "offset")
    limit = _sanitize(mesg.get("limit"), 1000, 1000, "limit")
    src_path = mesg.get("src_path")
    ops = ctx.copies.search(
        src_project_id=mesg.get("src_project_id"),
        target_project_id=mesg.get("target_project_id"),
        src_path=None if src_path is None else js_str(src_path),
        pending=pending,
        failed=failed,
        limit=limit,
        offset=offset,
    )
    return {
        "event": "copy_path_status_response",
        "id": mesg["id"],
        "data": [op.to_v1() for op in ops],
    }


def copy_path_delete(ctx: ApiContext, mesg: dict) -> dict:
    copy_path_id = mesg.get("copy_path_id")
    if copy_path_id is None:
        raise OpError("ERROR: copy_path_id missing")
    copy_path_id = js_str(copy_path_id)
    op = ctx.copies.get(copy_path_id)
    if op is None or op.scheduled_at is None or op.finished:
        raise OpError(f"Copy operation '{copy_path_id}' either does not exist or already finished")
    _require_write(ctx, op.target_project_id)
    _require_read(ctx, op.source_project_id)
    if not ctx.copies.delete_scheduled(copy_path_id):
        raise OpError(f"Copy operation '{copy_path_id}' either does not exist or already finished")
    return {
        "event": "copy_path_status_response",
        "id": mesg["id"],
        "data": f"copy_path_id = '{copy_path_id}' deleted",
    }


def _no_access(ctx: ApiContext, project_id: object, kind: str) -> OpError:
    return OpError(
        f"User {ctx.state.account_id} does not have {kind} access to project {js_str(project_id)}"
    )


def write_text_file_to_project(ctx: ApiContext, mesg: dict) -> dict:
    project_id = mesg["project_id"]
    if not _has_project(ctx, project_id):
        raise _no_access(ctx, project_id, "write")
    content = mesg["content"]
    if not isinstance(content, str):
        raise OpError("content must be a string")
    try:
        target = ctx.state.resolve(project_id, mesg["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    except PathError as err:
        raise OpError(str(err)) from None
    except IsADirectoryError:
        raise OpError(f"EISDIR: illegal operation on a directory, open '{mesg['path']}'") from None
    except OSError as err:
        raise OpError(f"{type(err).__name__}: {err.strerror or err}") from None
    return {"event": "file_written_to_project", "id": mesg["id"]}


def _read_one(ctx: ApiContext, project_id: object, path: object) -> str:
    if not _has_project(ctx, project_id):
        raise _no_access(ctx, project_id, "read")
    try:
        target = ctx.state.resolve(str(project_id), path)  # type: ignore[arg-type]
        return target.read_bytes().decode("utf-8", "replace")
    except PathError as err:
        raise OpError(str(err)) from None
    except FileNotFoundError:
        raise OpError(f"ENOENT: no such file or directory, open '{js_str(path)}'") from None
    except IsADirectoryError:
        raise OpError(f"EISDIR: illegal operation on a directory, read '{js_str(path)}'") from None
    except OSError as err:
        raise OpError(f"{type(err).__name__}: {err.strerror or err}") from None


def read_text_file_from_project(ctx: ApiContext, mesg: dict) -> dict:
    project_id, path = mesg["project_id"], mesg["path"]
    if isinstance(project_id, list) or isinstance(path, list):
        if not isinstance(project_id, list):
            raise OpError("project_id must be an array")
        if not isinstance(path, list) or len(path) != len(project_id):
            raise OpError(
                "if project_id is an array, then path must be an array of the same length"
            )
        content = []
        for pid, p in zip(project_id, path, strict=False):
            try:
                content.append({"project_id": pid, "path": p, "content": _read_one(ctx, pid, p)})
            except OpError as err:
                content.append({"project_id": pid, "path": p, "error": str(err)})
        return {"event": "text_file_read_from_project", "id": mesg["id"], "content": content}
    return {
        "event": "text_file_read_from_project",
        "id": mesg["id"],
        "content": _read_one(ctx, project_id, path),
    }


def create_project(ctx: ApiContext, mesg: dict) -> dict:
    title, description = js_str(mesg.get("title", "")), js_str(mesg.get("description", ""))
    try:
        project_id = ctx.state.create_project(title=title, description=description)
    except (OSError, ValueError) as err:
        raise OpError(f"Failed to create new project '{title}' -- {json.dumps(str(err))}") from None
    return {"event": "project_created", "id": mesg["id"], "project_id": project_id}


def user_auth(ctx: ApiContext, mesg: dict) -> dict:
    account_id, password = js_str(mesg["account_id"]), js_str(mesg["password"])
    now = time.monotonic()
    with ctx.lock:
        until = ctx.bans.get(account_id, 0.0)
        if until > now:
            raise OpError(BANNED)
        correct = account_id == ctx.state.account_id and (
            password == "" or password == ctx.state.password
        )
        if not correct:
            ctx.bans[account_id] = now + ctx.ban_seconds
    if not correct:
        raise OpError(f"invalid account_id or password -- {BANNED}")
    return {"event": "user_auth_token", "id": mesg["id"], "auth_token": ctx.state.issue_token()}


def query(ctx: ApiContext, mesg: dict) -> dict:
    from ._query import run_query

    result = run_query(ctx, mesg["query"])
    out = {"event": "query", "id": mesg["id"], "query": result, "multi_response": False}
    for key in ("changes", "options"):
        if mesg.get(key) is not None:
            out[key] = mesg[key]
    return out


def project_exec(ctx: ApiContext, mesg: dict) -> dict:
    from ._exec import run_exec

    if not ctx.allow_exec:
        raise OpError(
            "project_exec is disabled in the cocalc-widgets emulator: start it with --allow-exec "
            "(or Emulator(allow_exec=True)) to run commands in project folders"
        )
    if not _has_project(ctx, mesg["project_id"]):
        raise _no_access(ctx, mesg["project_id"], "write")
    return {"event": "project_exec_output", "id": mesg["id"], **run_exec(ctx, mesg)}


HANDLERS: dict[str, Callable[[ApiContext, dict], dict]] = {
    "ping": ping,
    "copy_path_between_projects": copy_path_between_projects,
    "copy_path_status": copy_path_status,
    "copy_path_delete": copy_path_delete,
    "write_text_file_to_project": write_text_file_to_project,
    "read_text_file_from_project": read_text_file_from_project,
    "create_project": create_project,
    "user_auth": user_auth,
    "query": query,
    "project_exec": project_exec,
}
