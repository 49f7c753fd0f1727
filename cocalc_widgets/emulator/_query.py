"""The v1 ``query`` endpoint (CoCalc's ``user_query``) for the tables the emulator has.

Get queries (any value ``null``) on ``projects``/``projects_all`` (a list template lists every
matching project; an object template returns one) and ``accounts``; set queries change a
project's ``title``/``description`` and answer ``{}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api_v1 import OpError
from ._copy import iso

if TYPE_CHECKING:
    from ._api import ApiContext
    from ._state import Project

PROJECT_FIELDS = (
    "project_id",
    "title",
    "description",
    "created",
    "last_edited",
    "state",
    "users",
    "deleted",
    "hidden",
)
SETTABLE = ("title", "description")
ACCOUNT_FIELDS = ("account_id", "first_name", "last_name", "email_address", "created")


def _project_row(ctx: ApiContext, project: Project) -> dict[str, Any]:
    return {
        "project_id": project.project_id,
        "title": project.title,
        "description": project.description,
        "created": iso(project.created),
        "last_edited": iso(project.created),
        "state": {"state": "running"},
        "users": {ctx.state.account_id: {"group": "owner"}},
        "deleted": False,
        "hidden": False,
    }


def _account_row(ctx: ApiContext) -> dict[str, Any]:
    return {
        "account_id": ctx.state.account_id,
        "first_name": "Emulator",
        "last_name": "User",
        "email_address": "emulator@localhost",
        "created": None,
    }


def _is_get(template: object) -> bool:
    if isinstance(template, list):
        return any(_is_get(t) for t in template)
    if isinstance(template, dict):
        return any(v is None or _is_get(v) for v in template.values())
    return template is None


def _select(rows: list[dict], template: dict, table: str, allowed: tuple[str, ...]) -> list[dict]:
    for key in template:
        if key not in allowed:
            raise OpError(
                f"FATAL: user get queries not allowed for field '{key}' of table '{table}'"
            )
    out = []
    for row in rows:
        if all(value is None or row.get(key) == value for key, value in template.items()):
            out.append({key: row.get(key) for key in template})
    return out


def _get(ctx: ApiContext, table: str, template: object) -> object:
    if table in ("projects", "projects_all"):
        with ctx.state.lock:
            projects = sorted(ctx.state.projects.values(), key=lambda p: p.created, reverse=True)
        rows = [_project_row(ctx, p) for p in projects]
        allowed = PROJECT_FIELDS
    elif table == "accounts":
        rows, allowed = [_account_row(ctx)], ACCOUNT_FIELDS
    else:
        raise OpError(f"FATAL: table '{table}' is not supported by the cocalc-widgets emulator")
    if isinstance(template, list):
        if len(template) != 1 or not isinstance(template[0], dict):
            raise OpError("malformed query")
        return _select(rows, template[0], table, allowed)
    if not isinstance(template, dict):
        raise OpError("malformed query")
    found = _select(rows, template, table, allowed)
    return found[0] if found else None


def _set(ctx: ApiContext, table: str, values: object) -> None:
    if table not in ("projects", "projects_all") or not isinstance(values, dict):
        raise OpError(f"FATAL: user set queries not allowed for table '{table}'")
    project_id = values.get("project_id")
    for key in values:
        if key != "project_id" and key not in SETTABLE:
            raise OpError(f"FATAL: user set query not allowed for field '{key}' of table '{table}'")
    if not isinstance(project_id, str) or project_id not in ctx.state.projects:
        raise OpError(
            f"User {ctx.state.account_id} does not have write access to project {project_id}"
        )
    ctx.state.update_project(
        project_id,
        title=None if values.get("title") is None else str(values["title"]),
        description=None if values.get("description") is None else str(values["description"]),
    )


def run_query(ctx: ApiContext, query: object) -> dict:
    """The ``query`` field of the response (``{}`` for a set query)."""
    if not isinstance(query, dict) or not query:
        raise OpError("malformed query")
    if len(query) != 1:
        raise OpError("FATAL: a query must involve exactly one table")
    ((table, template),) = query.items()
    if _is_get(template):
        return {table: _get(ctx, table, template)}
    if isinstance(template, list):
        for item in template:
            _set(ctx, table, item)
    else:
        _set(ctx, table, template)
    return {}
