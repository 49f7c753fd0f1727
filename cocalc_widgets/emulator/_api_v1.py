"""API v1 (``POST /api/v1/<endpoint>``): dispatch, field tables, and the endpoints over the
shared operations.

Order of checks follows CoCalc (``hub/servers/app/api.ts`` then ``hub/api/handler.coffee``):
body parsing (413, malformed JSON), Authorization header, endpoint, parameters, API key,
handler. Dispatcher errors are HTTP 400 ``{"error"}``. A handler gets the validated message
(defaults filled in, ``id`` set) and returns the response message, or raises
:class:`OpFailed`, answered as HTTP 200 ``{"event":"error","id":...,"error":...}``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from ._copy import WAIT_LIMIT_S, exclude_option, iso, timeout_option
from ._exec import run_exec
from ._files import read_text, write_text
from ._http import WRONG_KEY, HttpError, express_404, get_api_key, json_response, read_body
from ._ops import Banned, OpFailed, WrongPassword
from ._ops import create_project as create_project_op
from ._query import run_query
from ._state import TOKEN_TTL, PathError, UnknownProject
from ._tokens import user_token
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

log = logging.getLogger("cocalc_widgets.emulator")
REQUIRED = "__!!!!!!this is a required property!!!!!!__"
COPY_NOTE = (
    "Query copy_path_status with the copy_path_id to learn if the copy operation was successful."
)
BANNED = "banned -- please wait at least 60s before trying again"


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


# -- dispatch ------------------------------------------------------------------------------------
def handle(ctx: ApiContext, endpoint: str, request: Request) -> Response:
    """Answer ``POST /api/v1/<endpoint>``."""
    if request.method != "POST":
        return express_404(request)
    body = read_body(request, ctx.max_body)
    key = get_api_key(request)
    event = endpoint.rsplit("/", 1)[-1]
    known = event in FIELDS or event in NOT_EMULATED
    if not known and event not in NOT_API:
        raise HttpError(400, f"unknown endpoint '{event}'")
    if event in NOT_API:
        raise HttpError(400, f"endpoint '{event}' is not part of the HTTP API")
    mesg: dict = dict(body) if isinstance(body, dict) else {}
    if event in FIELDS:
        try:
            mesg = validate(event, body)
        except ValueError as err:
            raise HttpError(400, f"invalid parameters '{err}'") from None
        if event == "query" and mesg.get("multi_response") not in (None, False):
            raise HttpError(400, "multi_response queries aren't supported")
    if mesg.get("id") is None:
        mesg["id"] = str(uuid.uuid4())
    scope = ctx.state.key_scope(key)
    if scope is None or scope.account_id is None:  # a project's key is no account's
        raise HttpError(400, WRONG_KEY)
    ctx = ctx.for_caller(scope.account_id)
    if event in NOT_EMULATED:
        raise HttpError(400, f"unknown message event type '{event}'")
    try:
        return json_response(HANDLERS[event](ctx, mesg))
    except OpFailed as err:
        return json_response({"event": "error", "id": mesg["id"], "error": str(err)})
    except Exception as err:  # never a traceback page
        log.exception("v1 %s failed", event)
        return json_response(
            {"event": "error", "id": mesg["id"], "error": f"emulator internal error: {err!r}"}
        )


# -- access --------------------------------------------------------------------------------------
def _has_project(ctx: ApiContext, project_id: object) -> bool:
    return ctx.state.is_collaborator(ctx.account_id, project_id)


def _require_write(ctx: ApiContext, target: object) -> None:
    if not is_uuid(target):
        raise OpFailed(f"invalid target_project_id={js_str(target)}")
    if not _has_project(ctx, target):
        raise OpFailed(f"ACCESS BLOCKED -- No write access to target project -- {target}")


def _require_read(ctx: ApiContext, src: object) -> None:
    if not is_uuid(src):
        raise OpFailed(f"invalid src_project_id={js_str(src)}")
    if not _has_project(ctx, src):
        raise OpFailed(f"ACCESS BLOCKED -- No read access to source project -- {src}")


# -- handlers ------------------------------------------------------------------------------------
def ping(ctx: ApiContext, mesg: dict) -> dict:
    return {"event": "pong", "id": mesg["id"], "now": iso(time.time())}


def _bool_field(mesg: dict, name: str) -> bool:
    try:
        return pg_bool(mesg.get(name), name)
    except ValueError as err:
        raise OpFailed(str(err)) from None


def copy_path_between_projects(ctx: ApiContext, mesg: dict) -> dict:
    src, target = mesg["src_project_id"], mesg["target_project_id"]
    if not is_uuid(src):
        raise OpFailed(f"src_project_id='{js_str(src)}' not valid")
    if not is_uuid(target):
        raise OpFailed(f"target_project_id='{js_str(target)}' not valid")
    _require_write(ctx, target)
    _require_read(ctx, src)
    src_path = mesg["src_path"]
    target_path = mesg.get("target_path")
    if target_path is None:
        target_path = src_path
    if not isinstance(src_path, str) or not isinstance(target_path, str):
        raise OpFailed("src_path and target_path must be strings")
    exclude = mesg.get("exclude")
    exclude = exclude_option([exclude] if isinstance(exclude, str) else exclude)
    timeout = timeout_option(mesg.get("timeout"))
    scheduled_at = None
    if mesg.get("scheduled") is not None:
        scheduled_at = parse_date(mesg["scheduled"])
        if scheduled_at is None:
            raise OpFailed(f"opts.scheduled = '{js_str(mesg['scheduled'])}' is not a valid date")
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
        raise OpFailed(str(err)) from None
    if wait:
        if not ctx.copies.wait(op, WAIT_LIMIT_S):
            raise OpFailed(
                f"timeout waiting for copy operation {op.copy_path_id} to finish "
                f"(waited {WAIT_LIMIT_S:g}s); it may still succeed"
            )
        if op.error:
            raise OpFailed(op.error)
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
        raise OpFailed(f"ILLEGAL VALUE {name}='{js_str(value)}' (must be in [0, {maximum}])")
    return int(number)


def copy_path_status(ctx: ApiContext, mesg: dict) -> dict:
    search_many = (
        mesg.get("src_project_id") is not None or mesg.get("target_project_id") is not None
    )
    if not search_many and mesg.get("copy_path_id") is None:
        raise OpFailed(
            "'copy_path_id' (UUID) of a copy operation or 'src_project_id/target_project_id' "
            "must be defined"
        )
    if not search_many:
        op = ctx.copies.get(str(mesg["copy_path_id"]))
        if op is None:
            raise OpFailed(f"Can't find copy operation with ID={js_str(mesg['copy_path_id'])}")
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
        raise OpFailed("ERROR: copy_path_id missing")
    copy_path_id = js_str(copy_path_id)
    op = ctx.copies.get(copy_path_id)
    if op is None or op.scheduled_at is None or op.finished:
        raise OpFailed(f"Copy operation '{copy_path_id}' either does not exist or already finished")
    _require_write(ctx, op.target_project_id)
    _require_read(ctx, op.source_project_id)
    if not ctx.copies.delete_scheduled(copy_path_id):
        raise OpFailed(f"Copy operation '{copy_path_id}' either does not exist or already finished")
    return {
        "event": "copy_path_status_response",
        "id": mesg["id"],
        "data": f"copy_path_id = '{copy_path_id}' deleted",
    }


def write_text_file_to_project(ctx: ApiContext, mesg: dict) -> dict:
    account_id = ctx.account_id
    write_text(ctx.state, account_id, mesg["project_id"], mesg["path"], mesg["content"])
    return {"event": "file_written_to_project", "id": mesg["id"]}


def read_text_file_from_project(ctx: ApiContext, mesg: dict) -> dict:
    project_id, path = mesg["project_id"], mesg["path"]
    account_id = ctx.account_id
    if isinstance(project_id, list) or isinstance(path, list):
        if not isinstance(project_id, list):
            raise OpFailed("project_id must be an array")
        if not isinstance(path, list) or len(path) != len(project_id):
            raise OpFailed(
                "if project_id is an array, then path must be an array of the same length"
            )
        content = []
        for pid, p in zip(project_id, path, strict=False):
            try:
                text = read_text(ctx.state, account_id, pid, p)
                content.append({"project_id": pid, "path": p, "content": text})
            except OpFailed as err:
                content.append({"project_id": pid, "path": p, "error": str(err)})
        return {"event": "text_file_read_from_project", "id": mesg["id"], "content": content}
    return {
        "event": "text_file_read_from_project",
        "id": mesg["id"],
        "content": read_text(ctx.state, account_id, project_id, path),
    }


def create_project(ctx: ApiContext, mesg: dict) -> dict:
    title, description = js_str(mesg.get("title", "")), js_str(mesg.get("description", ""))
    start = js_loose_true(mesg.get("start")) or mesg.get("start") == "true"
    project_id = create_project_op(ctx.state, ctx.account_id, title, description, start)
    return {"event": "project_created", "id": mesg["id"], "project_id": project_id}


def user_auth(ctx: ApiContext, mesg: dict) -> dict:
    account_id, password = js_str(mesg["account_id"]), js_str(mesg["password"])
    try:
        token = user_token(ctx.state, ctx.v1_bans, ctx.account_id, account_id, password, TOKEN_TTL)
    except Banned:
        raise OpFailed(BANNED) from None
    except WrongPassword:
        raise OpFailed(f"invalid account_id or password -- {BANNED}") from None
    return {"event": "user_auth_token", "id": mesg["id"], "auth_token": token}


def query(ctx: ApiContext, mesg: dict) -> dict:
    result = run_query(ctx.state, ctx.account_id, mesg["query"], mesg.get("options"))
    out = {"event": "query", "id": mesg["id"], "query": result, "multi_response": False}
    for key in ("changes", "options"):
        if mesg.get(key) is not None:
            out[key] = mesg[key]
    return out


def project_exec(ctx: ApiContext, mesg: dict) -> dict:
    out = run_exec(
        ctx.state,
        ctx.account_id,
        mesg["project_id"],
        mesg,
        allow_exec=ctx.allow_exec,
        name="project_exec",
    )
    return {"event": "project_exec_output", "id": mesg["id"], **out}


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
