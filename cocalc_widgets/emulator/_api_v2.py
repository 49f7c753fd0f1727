"""API v2 endpoints (``POST /api/v2/<path>``): plain JSON, errors as HTTP 200 ``{"error"}``.

Texts follow CoCalc's Next.js handlers (``src/packages/next/pages/api/v2/projects/*.ts``);
``copy-path-status`` answers ``copy_error`` as the contract (PROTOCOL.md §2) says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._copy import WAIT_LIMIT_S
from ._state import PathError, UnknownProject
from ._values import is_uuid, js_loose_true, js_number, js_str, pg_bool

if TYPE_CHECKING:
    from ._api import ApiContext


class V2Error(Exception):
    """Answered as HTTP 200 ``{"error": text}``."""


def _collaborator(ctx: ApiContext, project_id: object) -> bool:
    return is_uuid(project_id) and project_id in ctx.state.projects


def copy_path(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    if body.get("path") is None:
        raise V2Error("path must be specified")
    if not is_uuid(body.get("src_project_id")):
        raise V2Error("src_project_id must be a valid uuid")
    if not is_uuid(body.get("target_project_id")):
        raise V2Error("target_project_id must be a valid uuid")
    if not signed_in:
        raise V2Error("Error: must be signed in")
    if not _collaborator(ctx, body["target_project_id"]):
        raise V2Error("Error: must be a collaborator on target project")
    if not _collaborator(ctx, body["src_project_id"]):
        raise V2Error("Error: must be a collaborator on source project")
    path = js_str(body["path"])
    target_path = body.get("target_path")
    target_path = path if target_path is None else js_str(target_path)
    try:
        names = ("overwrite_newer", "delete_missing", "backup")
        flags = {k: pg_bool(body.get(k), k) for k in names}
    except ValueError as err:
        raise V2Error(f"Error: {err}") from None
    timeout = js_number(body["timeout"]) if body.get("timeout") is not None else None
    exclude = body.get("exclude")
    if exclude is not None and not (
        isinstance(exclude, list) and all(isinstance(p, str) for p in exclude)
    ):
        raise V2Error("Error: exclude must be an array of strings")
    wait = True if body.get("wait_until_done") is None else js_loose_true(body["wait_until_done"])
    try:
        op = ctx.copies.submit(
            source_project_id=body["src_project_id"],
            source_path=path,
            target_project_id=body["target_project_id"],
            target_path=target_path,
            timeout=timeout,
            exclude=exclude,
            api="v2",
            **flags,
        )
    except (PathError, UnknownProject) as err:
        raise V2Error(f"Error: {err}") from None
    if wait:
        if not ctx.copies.wait(op, WAIT_LIMIT_S):
            raise V2Error(f"Error: timeout waiting for copy {op.copy_path_id} to finish")
        if op.error:
            raise V2Error(f"Error: {op.error}")
    return {"copy_id": op.copy_path_id}


def copy_path_status(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    copy_id = body.get("copy_id")
    if not is_uuid(copy_id):
        raise V2Error("copy_id must be a valid uuid")
    if not signed_in:
        raise V2Error("must be signed in")
    op = ctx.copies.get(copy_id)  # type: ignore[arg-type]
    if op is None:
        raise V2Error("copy_id not found")
    if not _collaborator(ctx, op.target_project_id):
        raise V2Error("must be a collaborator on the target project")
    return op.to_v2()


def create(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    if not signed_in:
        raise V2Error("user must be signed in")
    title = "" if body.get("title") is None else js_str(body["title"])
    description = "" if body.get("description") is None else js_str(body["description"])
    return {"project_id": ctx.state.create_project(title=title, description=description)}


def user_query(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    from ._api_v1 import OpError
    from ._query import run_query

    if not signed_in:
        raise V2Error("user must be signed in")
    try:
        return {"query": run_query(ctx, body.get("query"))}
    except OpError as err:
        raise V2Error(str(err)) from None


def write_text_file(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    from ._api_v1 import OpError, write_text_file_to_project

    if not signed_in:
        raise V2Error("must be authenticated")
    if not is_uuid(body.get("project_id")):
        raise V2Error("must set project_id to a valid uuid")
    if not body.get("path"):
        raise V2Error("must specify a 'path'")
    if body.get("content") is None:
        raise V2Error("must include content of file")
    mesg = {
        "id": "",
        "project_id": body["project_id"],
        "path": body["path"],
        "content": body["content"],
    }
    try:
        write_text_file_to_project(ctx, mesg)
    except OpError as err:
        raise V2Error(str(err)) from None
    return {"status": "ok"}


def exec_(ctx: ApiContext, body: dict, signed_in: bool) -> dict:
    from ._api_v1 import OpError, project_exec

    if not signed_in:
        raise V2Error("must be signed in")
    if not _collaborator(ctx, body.get("project_id")):
        raise V2Error("user must be a collaborator on the project")
    if body.get("command") is None:
        raise V2Error("command must be specified")
    mesg = {"timeout": 10, "err_on_exit": True, "path": "", **body, "id": ""}
    try:
        out = project_exec(ctx, mesg)
    except OpError as err:
        raise V2Error(str(err)) from None
    out.pop("event", None)
    out.pop("id", None)
    return out


HANDLERS: dict[str, Callable[[ApiContext, dict, bool], dict]] = {
    "projects/copy-path": copy_path,
    "projects/copy-path-status": copy_path_status,
    "projects/create": create,
    "projects/write-text-file": write_text_file,
    "user-query": user_query,
    "exec": exec_,
}
