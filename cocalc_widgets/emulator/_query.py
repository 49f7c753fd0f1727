"""CoCalc's ``user_query`` (v1 ``query``, v2 ``user-query``, conat ``db.userQuery``) for the
tables the emulator has.

Get queries (any value ``null``) on ``projects``/``projects_all`` (a list template lists every
matching project the account is on; an object template returns one) and ``accounts`` (one's
own account); set queries change a project's ``title``/``description`` or one's own
``first_name``/``last_name``, and answer ``{}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._copy import iso
from ._ops import OpFailed
from ._state import Account, EmulatorState, Project

SETTABLE = {
    "projects": ("title", "description", "deleted"),
    "accounts": ("first_name", "last_name"),
}
ACCOUNT_FIELDS = ("account_id", "first_name", "last_name", "email_address", "created")


def _users(state: EmulatorState, project: Project) -> dict[str, dict[str, str]]:
    users = {state.account_id: {"group": "owner"}}
    users.update({a: {"group": "collaborator"} for a in project.collaborators})
    return users


# A project row's fields: each computed only when a query asks for it (5,000 rows stay cheap).
_PROJECT_VALUES: dict[str, Callable[[EmulatorState, Project], Any]] = {
    "project_id": lambda _state, p: p.project_id,
    "title": lambda _state, p: p.title,
    "description": lambda _state, p: p.description,
    "created": lambda _state, p: iso(p.created),
    "last_edited": lambda _state, p: iso(p.last_edited or p.created),
    "state": lambda _state, p: {"state": p.state},
    "users": _users,
    "deleted": lambda _state, p: p.deleted,
    "hidden": lambda _state, _p: False,
}
PROJECT_FIELDS = tuple(_PROJECT_VALUES)


def _account_row(account: Account, owner: bool) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "email_address": account.email_address,
        "created": None if owner else iso(account.created),
    }


def _is_get(template: object) -> bool:
    if isinstance(template, list):
        return any(_is_get(t) for t in template)
    if isinstance(template, dict):
        return any(v is None or _is_get(v) for v in template.values())
    return template is None


def _check_fields(template: dict, table: str, allowed: Iterable[str]) -> None:
    for key in template:
        if key not in allowed:
            raise OpFailed(
                f"FATAL: user get queries not allowed for field '{key}' of table '{table}'"
            )


def _select(rows: Iterable[dict], template: dict) -> list[dict]:
    out = []
    for row in rows:
        if all(value is None or row.get(key) == value for key, value in template.items()):
            out.append({key: row.get(key) for key in template})
    return out


def _project_rows(state: EmulatorState, account_id: str, template: dict) -> list[dict]:
    """The rows (the template's fields only) of the account's projects, newest first; only
    the named project's when the template gives a ``project_id``."""
    wanted = template.get("project_id")
    with state.lock:
        if isinstance(wanted, str):
            found = state.projects.get(wanted)
            projects = [] if found is None else [found]
        else:
            projects = sorted(state.projects.values(), key=lambda p: p.created, reverse=True)
        owner = account_id == state.account_id
        mine = [p for p in projects if owner or account_id in p.collaborators]
    values = [(key, _PROJECT_VALUES[key]) for key in template]
    return [{key: value(state, p) for key, value in values} for p in mine]


def _get(state: EmulatorState, account_id: str, table: str, template: object) -> object:
    if table not in ("projects", "projects_all", "accounts"):
        raise OpFailed(f"FATAL: table '{table}' is not supported by the cocalc-widgets emulator")
    if isinstance(template, list):
        if len(template) != 1 or not isinstance(template[0], dict):
            raise OpFailed("malformed query")
        pattern = template[0]
    elif isinstance(template, dict):
        pattern = template
    else:
        raise OpFailed("malformed query")
    if table == "accounts":
        _check_fields(pattern, table, ACCOUNT_FIELDS)
        account = state.accounts[account_id]
        rows = [_account_row(account, account_id == state.account_id)]
    else:
        _check_fields(pattern, table, PROJECT_FIELDS)
        rows = _project_rows(state, account_id, pattern)
    found = _select(rows, pattern)
    if isinstance(template, list):
        return found
    return found[0] if found else None


def _set(state: EmulatorState, account_id: str, table: str, values: object) -> None:
    table_name = "projects" if table == "projects_all" else table
    if table_name not in SETTABLE or not isinstance(values, dict):
        raise OpFailed(f"FATAL: user set queries not allowed for table '{table}'")
    key = "project_id" if table_name == "projects" else "account_id"
    for name in values:
        if name != key and name not in SETTABLE[table_name]:
            raise OpFailed(
                f"FATAL: user set query not allowed for field '{name}' of table '{table}'"
            )
    if table_name == "projects" and "deleted" in values:
        deleted = values["deleted"]
        project_id = values.get("project_id")
        if not state.is_collaborator(account_id, project_id):
            raise OpFailed(f"User {account_id} does not have write access to project {project_id}")
        if deleted is not None:
            state.set_project_deleted(project_id, bool(deleted))  # type: ignore[arg-type]
    changes = {k: str(v) for k, v in values.items() if k not in (key, "deleted") and v is not None}
    if table_name == "accounts":
        if values.get("account_id", account_id) != account_id:
            raise OpFailed("FATAL: you may only change your own account")
        state.update_account(account_id, **changes)
        return
    project_id = values.get("project_id")
    if not state.is_collaborator(account_id, project_id):
        raise OpFailed(f"User {account_id} does not have write access to project {project_id}")
    state.update_project(project_id, **changes)  # type: ignore[arg-type]


def run_query(
    state: EmulatorState, account_id: str | None, query: object, options: object = None
) -> dict:
    """The query with its nulls filled in for ``account_id`` (``{}`` for a set query).
    ``options``: CoCalc's list of option objects; ``{"limit": n}`` keeps the first ``n`` rows
    (API v1 and conat send them; API v2's route drops them). ``account_id`` ``None``: an
    anonymous query (API v2 without a key), which CoCalc refuses for every table here."""
    if not isinstance(query, dict) or not query:
        raise OpFailed("malformed query")
    if len(query) != 1:
        raise OpFailed("FATAL: a query must involve exactly one table")
    ((table, template),) = query.items()
    if account_id is None:
        if _is_get(template):
            raise OpFailed(f"FATAL: anonymous get queries not allowed for table '{table}'")
        raise OpFailed("FATAL: no anonymous set queries")
    if _is_get(template):
        rows = _get(state, account_id, table, template)
        limit = _limit(options)
        if limit is not None and isinstance(rows, list):
            rows = rows[:limit]
        return {table: rows}
    for item in template if isinstance(template, list) else [template]:
        _set(state, account_id, table, item)
    return {}


def _limit(options: object) -> int | None:
    """The ``limit`` of a query's options (a list of objects), if any."""
    for option in options if isinstance(options, list) else []:
        value = option.get("limit") if isinstance(option, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
