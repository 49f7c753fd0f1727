"""API v2 (``POST /api/v2/<path>``): plain JSON over the shared operations, errors as HTTP 200
``{"error"}``.

Texts follow CoCalc's Next.js handlers (``src/packages/next/pages/api/v2/projects/*.ts``);
``copy-path-status`` answers ``copy_error`` as the contract (PROTOCOL.md §2) says. A handler
returns the answer or raises :class:`OpFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from . import _projects as projects
from ._copy import WAIT_LIMIT_S, missing_source
from ._exec import run_exec
from ._files import write_text
from ._http import HttpError, get_api_key, json_response, nextjs_404, read_body
from ._ops import OpFailed, create_project
from ._query import run_query
from ._state import PathError, UnknownProject
from ._values import is_uuid, js_loose_true, js_number, js_str, pg_bool

if TYPE_CHECKING:
    from ._api import ApiContext

log = logging.getLogger("cocalc_widgets.emulator")


def handle(ctx: ApiContext, endpoint: str, request: Request) -> Response:
    """Answer ``POST /api/v2/<endpoint>``."""
    handler = HANDLERS.get(endpoint)
    if handler is None:
        return nextjs_404(request)
    if request.method != "POST":
        return json_response({"message": "must use a POST request"}, 404)
    body = read_body(request, ctx.max_body)
    if not isinstance(body, dict):
        body = {}
    try:
        scope = ctx.state.key_scope(get_api_key(request))
    except HttpError:
        scope = None
    signed_in = scope is not None and scope.account_id is not None
    if scope is not None and scope.account_id is not None:
        ctx = ctx.for_caller(scope.account_id)
    try:
        return json_response(handler(ctx, body, signed_in))
    except OpFailed as err:
        return json_response({"error": str(err)})
    except Exception as err:  # never a traceback page
        log.exception("v2 %s failed", endpoint)
        return json_response({"error": f"emulator internal error: {err!r}"})


def _collaborator(ctx: ApiContext, project_id: object) -> bool:
    return ctx.state.is_collaborator(ctx.account_id, project_id)


def copy_path(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    """CoCalc's ``projects/copy-path``: its texts carry no ``Error: `` prefix, it sends no
    ``exclude`` (the route does not read it), and it waits unless told not to
    (``wait_until_done`` defaults to true); a waited copy's ``copy_id`` is ``""``."""
    if body.get("path") is None:
        raise OpFailed("path must be specified")
    if not is_uuid(body.get("src_project_id")):
        raise OpFailed("src_project_id must be a valid uuid")
    if not is_uuid(body.get("target_project_id")):
        raise OpFailed("target_project_id must be a valid uuid")
    if not signed_in:
        raise OpFailed("must be signed in")
    if not _collaborator(ctx, body["target_project_id"]):
        raise OpFailed("must be a collaborator on target project")
    if not _collaborator(ctx, body["src_project_id"]):
        raise OpFailed("must be a collaborator on source project")
    path = js_str(body["path"])
    target_path = body.get("target_path")
    target_path = path if target_path is None else js_str(target_path)
    try:
        names = ("overwrite_newer", "delete_missing", "backup")
        flags = {k: pg_bool(body.get(k), k) for k in names}
    except ValueError as err:
        raise OpFailed(str(err)) from None
    timeout = js_number(body["timeout"]) if body.get("timeout") is not None else None
    wait = True if body.get("wait_until_done") is None else js_loose_true(body["wait_until_done"])
    if ctx.single_user:  # outside KuCalc every copy is synchronous, its source looked at first
        wait = True
        missing_source(ctx.state, body["src_project_id"], path)
    try:
        op = ctx.copies.submit(
            source_project_id=body["src_project_id"],
            source_path=path,
            target_project_id=body["target_project_id"],
            target_path=target_path,
            timeout=timeout,
            exclude=None,
            api="v2",
            **flags,
        )
    except (PathError, UnknownProject) as err:
        raise OpFailed(str(err)) from None
    if wait:
        if not ctx.copies.wait(op, WAIT_LIMIT_S):
            raise OpFailed(f"timeout waiting for copy {op.copy_path_id} to finish")
        if op.error:
            raise OpFailed(str(op.error))
        return {"copy_id": ""}
    return {"copy_id": op.copy_path_id}


def copy_path_status(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    copy_id = body.get("copy_id")
    if not is_uuid(copy_id):
        raise OpFailed("copy_id must be a valid uuid")
    if not signed_in:
        raise OpFailed("must be signed in")
    op = ctx.copies.get(copy_id)  # type: ignore[arg-type]
    if op is None:
        raise OpFailed("copy_id not found")
    if not _collaborator(ctx, op.target_project_id):
        raise OpFailed("must be a collaborator on the target project")
    return op.to_v2()


def create(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    if not signed_in:
        raise OpFailed("user must be signed in")
    title = "" if body.get("title") is None else js_str(body["title"])
    description = "" if body.get("description") is None else js_str(body["description"])
    return {"project_id": create_project(ctx.state, ctx.account_id, title, description)}


def start_project(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    """CoCalc's ``projects/start`` (its texts, in its order)."""
    if not is_uuid(body.get("project_id")):
        raise OpFailed("project_id must be a valid uuid")
    if not signed_in:
        raise OpFailed("must be signed in")
    if not _collaborator(ctx, body["project_id"]):
        raise OpFailed("must be a collaborator to start project")
    projects.ensure_running(ctx.state, body["project_id"])
    return {"status": "ok"}


def user_query(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    # CoCalc's route runs the query anonymously without an account (its user-query.ts)
    return {"query": run_query(ctx.state, ctx.account_id if signed_in else None, body.get("query"))}


def write_text_file(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    if not signed_in:
        raise OpFailed("must be authenticated")
    if not is_uuid(body.get("project_id")):
        raise OpFailed("must set project_id to a valid uuid")
    if not body.get("path"):
        raise OpFailed("must specify a 'path'")
    if body.get("content") is None:
        raise OpFailed("must include content of file")
    account_id = ctx.account_id
    write_text(ctx.state, account_id, body["project_id"], body["path"], body["content"])
    return {"status": "ok"}


def exec_(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    if not signed_in:
        raise OpFailed("must be signed in")
    if not _collaborator(ctx, body.get("project_id")):
        raise OpFailed("user must be a collaborator on the project")
    if body.get("command") is None:
        raise OpFailed("command must be specified")
    result = run_exec(
        ctx.state,
        ctx.account_id,
        body["project_id"],
        {"timeout": 10, "err_on_exit": True, "path": "", **body},
        allow_exec=ctx.allow_exec,
        name="project_exec",
    )
    return {**result, "type": "blocking"}  # CoCalc's executeCode marks a blocking run so


def customize(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    """The site's public settings (no key needed), or the ``fields`` asked for."""
    settings = {
        "site_name": "CoCalc emulator",
        "iframe_comm_hosts": ",".join(ctx.state.iframe_comm_hosts),
        "dns": "",
    }
    fields = body.get("fields")
    if isinstance(fields, list):
        return {k: v for k, v in settings.items() if k in fields}
    return settings


HANDLERS: dict[str, Callable[[ApiContext, dict, bool], dict]] = {
    "customize": customize,
    "projects/copy-path": copy_path,
    "projects/copy-path-status": copy_path_status,
    "projects/create": create,
    "projects/start": start_project,
    "projects/write-text-file": write_text_file,
    "user-query": user_query,
    "exec": exec_,
}
