"""Organisations, their users and admins, account names and search, and messages (conat
``org.*``, ``system.getNames``, ``system.userSearch``, ``messages.send``/``get``), with
CoCalc's checks and texts (``server/conat/api/org.ts``, ``server/accounts/*``,
``server/messages/*``)."""

from __future__ import annotations

import re
import secrets

from ._copy import iso
from ._ops import OpFailed
from ._state import Account, EmulatorState
from ._values import is_uuid, js_number, js_str

MESSAGES_MAX_LIMIT = 500
_EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_NOT_ALLOWED = "user must be an admin of the organization or site-admin"


def _name(opts: dict) -> str:
    return js_str(opts.get("name"))


def _allowed(state: EmulatorState, account_id: str, name: str) -> bool:
    org = state.orgs.get(name)
    return state.is_site_admin(account_id) or (
        org is not None and account_id in org.admin_account_ids
    )


def _assert_allowed(state: EmulatorState, account_id: str, name: str) -> None:
    if not _allowed(state, account_id, name):
        raise OpFailed(_NOT_ALLOWED)


def _find(state: EmulatorState, user: object) -> str | None:
    """The account id of ``user`` (an account id or an email address), or ``None``."""
    if not isinstance(user, str):
        return None
    found = state.find_account(user)
    return None if found is None else found.account_id


# -- organisations ---------------------------------------------------------------------------
def get_all(state: EmulatorState, account_id: str) -> list[dict]:
    if not state.is_site_admin(account_id):
        raise OpFailed("must be a site admin")
    with state.lock:
        return [
            {
                "name": o.name,
                "title": o.title,
                "admin_account_ids": list(o.admin_account_ids) or None,
            }
            for o in state.orgs.values()
        ]


def create(state: EmulatorState, account_id: str, opts: dict) -> str:
    if not state.is_site_admin(account_id):
        raise OpFailed("only admins may create organizations")
    name = opts.get("name")
    if not isinstance(name, str) or not name:
        raise OpFailed(
            'null value in column "name" of relation "organizations" violates not-null constraint'
        )
    with state.lock:
        if name in state.orgs:
            raise OpFailed(f"name {name} is already used by some account or organization")
        state.create_org(name)
        return state.orgs[name].organization_id


def get(state: EmulatorState, account_id: str, opts: dict) -> dict:
    name = _name(opts)
    _assert_allowed(state, account_id, name)
    with state.lock:
        org = state.orgs.get(name)
        if org is None:
            raise OpFailed(f"no org named '{name}'")
        return {
            "name": org.name,
            "title": org.title,
            "description": org.description,
            "link": org.link,
            "email_address": org.email_address,
            "admin_account_ids": list(org.admin_account_ids) or None,
        }


def set_org(state: EmulatorState, account_id: str, opts: dict) -> None:
    name = _name(opts)
    _assert_allowed(state, account_id, name)
    values = {}
    for key in ("title", "description", "link", "email_address"):
        if opts.get(key) is not None:
            values[key] = js_str(opts[key])
    if not values:  # CoCalc's UPDATE with no column is an SQL syntax error
        raise OpFailed('syntax error at or near "WHERE"')
    state.update_org(name, **values)


def add_admin(state: EmulatorState, account_id: str, opts: dict) -> None:
    name, user = _name(opts), opts.get("user")
    target = _find(state, user)
    if target is None:
        raise OpFailed(f"no such account '{js_str(user)}'")
    current = state.accounts[target].org
    if current is not None and current != name:
        raise OpFailed(f"User '{js_str(user)}' is already member of another organization")
    if not state.is_site_admin(account_id):
        raise OpFailed("only site admins can make a user an organization admin right now")
    if name in state.orgs:
        state.add_org_admin(name, target)
    state.set_account_org(target, name)


def add_user(state: EmulatorState, account_id: str, opts: dict) -> None:
    if not state.is_site_admin(account_id):
        raise OpFailed("only site admins can add/move a user to an org right now")
    user = opts.get("user")
    target = _find(state, user)
    if target is None:
        raise OpFailed(f"cannot find user '{js_str(user)}'")
    state.set_account_org(target, _name(opts))


def create_user(state: EmulatorState, account_id: str, opts: dict) -> str:
    """A new account in the organisation (which a site admin need not have created)."""
    name = _name(opts)
    _assert_allowed(state, account_id, name)
    email = opts.get("email")
    if email is not None and not isinstance(email, str):
        raise OpFailed("email must be a string")
    first, last = opts.get("firstName"), opts.get("lastName")
    password = opts.get("password")
    try:
        return state.create_account(
            "" if first is None else js_str(first),
            "" if last is None else js_str(last),
            email or None,
            secrets.token_urlsafe(12) if password is None else js_str(password),
            org=name,
            org_must_exist=False,
        )
    except ValueError:
        raise OpFailed(  # PostgreSQL's error, as CoCalc passes it on (its name: "error")
            'duplicate key value violates unique constraint "accounts_email_address_key"',
            name="error",
        ) from None


def get_users(state: EmulatorState, account_id: str, opts: dict) -> list[dict]:
    name = _name(opts)
    _assert_allowed(state, account_id, name)
    with state.lock:
        return [
            {
                "first_name": a.first_name,
                "last_name": a.last_name,
                "account_id": a.account_id,
                "email_address": a.email_address,
                "last_active": None,
            }
            for a in state.accounts.values()
            if a.org == name
        ]


def remove_user(state: EmulatorState, account_id: str, opts: dict) -> None:
    name, user = _name(opts), opts.get("user")
    _assert_allowed(state, account_id, name)
    target = _find(state, user)
    if target is None:
        raise OpFailed(f"cannot find user '{js_str(user)}'")
    org = state.orgs.get(name)
    if org is not None and target in org.admin_account_ids:
        raise OpFailed("admin cannot be removed from org; first remove them from being an admin")
    state.set_account_org(target, None)


def remove_admin(state: EmulatorState, account_id: str, opts: dict) -> None:
    name, user = _name(opts), opts.get("user")
    _assert_allowed(state, account_id, name)
    target = _find(state, user)
    if target is None:
        raise OpFailed(f"cannot find user '{js_str(user)}'")
    state.remove_org_admin(name, target)


def message(state: EmulatorState, account_id: str, opts: dict) -> None:
    """Send a message to every member of the organisation."""
    name = _name(opts)
    _assert_allowed(state, account_id, name)
    with state.lock:
        members = [a.account_id for a in state.accounts.values() if a.org == name]
    _store(state, account_id, members, opts.get("subject"), opts.get("body"), None)


# -- names and search ------------------------------------------------------------------------
def get_names(state: EmulatorState, account_ids: object) -> dict:
    """``{account_id: {first_name, last_name, profile}}``; unknown ids are "Deleted User"."""
    if not isinstance(account_ids, list):
        raise OpFailed(f'malformed array literal: "{js_str(account_ids)}"')
    for aid in account_ids:
        if not is_uuid(aid):
            raise OpFailed(f'invalid input syntax for type uuid: "{js_str(aid)}"')
    out: dict[str, dict] = {}
    with state.lock:
        for aid in account_ids:
            account = state.accounts.get(aid)
            if account is None:
                out[aid] = {"first_name": "Deleted", "last_name": "User"}
                continue
            first, last = account.first_name.strip(), account.last_name.strip()
            if not first and not last:
                first, last = "No", "Name"
            # CoCalc adds the account's profile (colour, image): the emulator keeps none.
            out[aid] = {"first_name": first, "last_name": last, "profile": None}
    return out


def user_search(state: EmulatorState, account_id: str, opts: dict) -> list[dict]:
    """CoCalc's user search: by exact account id, by exact email address (the only way the
    address is shown), or by names starting with each word of the query."""
    query, limit = opts.get("query"), opts.get("limit")
    if opts.get("admin") and not state.is_site_admin(account_id):
        raise OpFailed("Must be an admin to do admin search.")
    if not isinstance(query, str):
        raise OpFailed(f"Cannot read properties of {js_str(query)} (reading 'trim')")
    cap = 50 if js_number(limit) is None else min(int(js_number(limit) or 0), 50)
    text = query.strip()
    with state.lock:
        accounts = list(state.accounts.values())
    if is_uuid(text):
        return [_found(a, False) for a in accounts if a.account_id == text]
    if _EMAIL_RE.match(text):
        lower = text.lower()
        return [_found(a, True) for a in accounts if (a.email_address or "").lower() == lower]
    words = [w.lower() for w in re.split(r"\s+", text) if w and "@" not in w]
    if not words:
        return []
    hits = [
        a
        for a in accounts
        if all(
            (a.first_name or "").lower().startswith(w) or (a.last_name or "").lower().startswith(w)
            for w in words
        )
    ]
    hits.sort(key=lambda a: a.created, reverse=True)
    return [_found(a, False) for a in hits[:cap]]


def _found(account: Account, with_email: bool) -> dict:
    """A search result; the email address only for a search by it, as CoCalc's."""
    row = {
        "account_id": account.account_id,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "name": None,
        "last_active": None,
        "created": int(account.created * 1000),
        "email_address_verified": None,
    }
    if with_email:
        row["email_address"] = account.email_address
    return row


# -- messages --------------------------------------------------------------------------------
def send(state: EmulatorState, account_id: str, opts: dict) -> int | None:
    """Send a message (recipients by account id or email address); returns its id."""
    to_ids = opts.get("to_ids")
    if not isinstance(to_ids, list):
        raise OpFailed(f"Cannot read properties of {js_str(to_ids)} (reading 'filter')")
    resolved: list[str] = []
    for item in to_ids:
        if isinstance(item, str) and "@" in item:
            found = state.find_account(item)
            if found is not None:
                resolved.append(found.account_id)
        elif isinstance(item, str) and is_uuid(item):
            resolved.append(item)
        else:
            raise OpFailed(f"Cannot read properties of {js_str(item)} (reading 'includes')")
    reply = opts.get("reply_id")
    thread_id = None
    if reply is not None:
        with state.lock:
            parent = next((m for m in state.messages if m.id == reply), None)
        thread_id = None if parent is None else (parent.thread_id or parent.id)
    return _store(state, account_id, resolved, opts.get("subject"), opts.get("body"), thread_id)


def _store(
    state: EmulatorState,
    from_id: str,
    to_ids: list[str],
    subject: object,
    body: object,
    thread_id: int | None,
) -> int | None:
    if not to_ids:
        return None
    for aid in to_ids:
        if aid not in state.accounts:
            raise OpFailed(f"invalid account_id -- {aid}")
    if not isinstance(subject, str) or not isinstance(body, str):
        raise OpFailed(
            'null value in column "subject" of relation "messages" violates not-null constraint'
            if not isinstance(subject, str)
            else 'null value in column "body" of relation "messages" violates not-null constraint'
        )
    return state.add_message(from_id, to_ids, subject, body, thread_id)


def get_messages(state: EmulatorState, account_id: str, opts: dict) -> list[dict]:
    """The account's messages, newest first: ``received`` (default), ``sent``, ``new``,
    ``starred`` (none: nothing is starred here)."""
    limit = 100 if opts.get("limit") is None else js_number(opts.get("limit"))
    offset = 0 if opts.get("offset") is None else js_number(opts.get("offset"))
    kind = opts.get("type") or "received"
    if limit is None or offset is None:
        raise OpFailed("invalid input syntax for type bigint")
    if limit > MESSAGES_MAX_LIMIT:
        raise OpFailed(f"limit must be at most {MESSAGES_MAX_LIMIT}")
    with state.lock:
        messages = list(state.messages)
    if kind == "sent":
        chosen = [m for m in messages if m.from_id == account_id]
    elif kind in ("received", "new"):
        chosen = [m for m in messages if account_id in m.to_ids]
    else:
        chosen = []
    chosen.sort(key=lambda m: (m.sent, m.id), reverse=True)
    rows = chosen[int(offset) : int(offset) + max(int(limit), 0)]
    return [
        {
            "id": m.id,
            "subject": m.subject,
            "body": m.body,
            "from_id": m.from_id,
            "to_ids": list(m.to_ids),
            "sent": iso(m.sent),
            "thread_id": m.thread_id,
            "read": False,
            "saved": False,
            "deleted": False,
        }
        for m in rows
    ]
