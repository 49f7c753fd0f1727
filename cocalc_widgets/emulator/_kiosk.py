"""Kiosk pages of the emulator: CoCalc's file pages, sign-in, and the IFrame protocol page.

Routes (every non-``/api/`` request of the emulator comes here first):

- ``GET /app`` and ``GET /projects/<project_id>/files/<path>`` (``<path>`` empty: the
  project's file listing): the page.

  - With ``?fullscreen=kiosk``, a *kiosk page*, as the ``kiosk`` setting
    (``state.kiosk``, read per request) says: ``"ok"`` shows the file and runs CoCalc's IFrame
    postMessage listener (PROTOCOL.md §4, in ``static/kiosk.js``); ``"no-bridge"`` shows the
    file and never listens; ``"broken"`` shows only "CoCalc:" with no script at all, as
    cocalc.com does (upstream issue #8527); ``"stuck"`` ignores the URL's file (it shows the
    kiosk banner, ``open_files`` is ``{}``) but runs the listener, whose ``open`` shows the
    file, as CoCalc master 5cb3315c does (a sign-in race drops the URL's target; the bridge
    still answers).
  - Otherwise (no ``fullscreen``, ``?fullscreen``, ``?fullscreen=project``, ...), a *plain
    page*: title bar, the file or the listing, never a listener, whatever the setting.

  The ``<body>`` says which: ``data-page="kiosk"|"plain"``, ``data-fullscreen`` (the
  parameter's value; absent without it) and ``data-emulator-kiosk`` (the setting).
- ``GET /auth/impersonate?auth_token=<token>``: sets the ``remember_me`` cookie and redirects
  client-side to plain ``/app`` (kiosk parameters are dropped, as CoCalc does).
- ``GET /customize``: the site settings CoCalc's front end reads (``configuration``).
- ``GET /_kiosk/file?project_id=<id>&path=<path>``: the JSON document the page shows
  (authenticated by the ``remember_me`` cookie when sign-in is required).
- ``GET /_kiosk/static/<name>``: the page's JS and CSS.

(``/_kiosk/`` rather than ``/_emulator/``: the API half owns ``/_emulator/*``, e.g. the ledger.)

A page request needs a sign-in when ``state.require_sign_in``: a valid ``remember_me`` cookie,
or a valid ``&auth_token=`` in the URL (CoCalc's old way; the page then sets the cookie).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from ._state import TOKEN_TTL, UUID_RE, EmulatorState, PathError, UnknownProject

COOKIE = "remember_me"
STATIC_DIR = Path(__file__).with_name("static")
MAX_TEXT = 2 * 1024 * 1024  # bytes of a file shown as text; the rest is cut off
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(js|css)$")
_FILE_URL = re.compile(r"^/projects/([^/]+)/files(?:/(.*))?$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)


def handle_kiosk(state: EmulatorState, request: Request) -> Response | None:
    """Answer a non-API request (kiosk page, sign-in, static file), or ``None`` if not ours."""
    path = request.path
    if request.method not in ("GET", "HEAD"):
        return None
    if path == "/app":
        return _page_response(state, request, None, None)
    m = _FILE_URL.match(path)
    if m:
        project_id, file_path = m.group(1), m.group(2) or ""
        if not UUID_RE.match(project_id):
            return None
        return _page_response(state, request, project_id, file_path)
    if path == "/auth/impersonate":
        return _impersonate(state, request)
    if path == "/customize":
        return _customize(state)
    if path == "/_kiosk/file":
        return _file_endpoint(state, request)
    if path.startswith("/_kiosk/static/"):
        return _static(path[len("/_kiosk/static/") :])
    return None


# -- sign-in ----------------------------------------------------------------------------------
def _sign_in(state: EmulatorState, request: Request) -> tuple[bool, str | None, str | None]:
    """Whether the request is signed in, a new session id to set as cookie (or None), and the
    account it is signed in as (None: not signed in)."""
    account = state.session_account(request.cookies.get(COOKIE))
    if account is not None:
        return True, None, account
    account = state.token_account(request.args.get("auth_token"))
    if account is not None:
        return True, state.create_session(account), account
    return not state.require_sign_in, None, None


def _set_session_cookie(
    state: EmulatorState, request: Request, response: Response, sid: str
) -> None:
    """Set the ``remember_me`` cookie: ``Secure`` over https (as CoCalc's) and whenever
    SameSite is ``None`` (browsers refuse that cookie otherwise)."""
    samesite = str(getattr(state, "samesite_remember_me", "lax")).lower()
    if samesite not in ("strict", "lax", "none"):
        samesite = "lax"
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(TOKEN_TTL),
        path="/",
        httponly=True,
        secure=samesite == "none" or request.is_secure,
        samesite=samesite.capitalize(),
    )


def _customize(state: EmulatorState) -> Response:
    """CoCalc's ``GET /customize`` (the web app's configuration, no sign-in): the site settings
    its front end reads, under ``configuration`` (``iframe_comm_hosts`` as the list CoCalc's
    ``split_iframe_comm_hosts`` makes of the setting)."""
    configuration = {
        "site_name": "CoCalc emulator",
        "dns": "",
        "iframe_comm_hosts": list(state.iframe_comm_hosts),
    }
    response = _json({"configuration": configuration}, 200)
    response.headers["Content-Type"] = "application/json; charset=utf-8"  # Express's res.json
    return response


def _impersonate(state: EmulatorState, request: Request) -> Response:
    """CoCalc's ``/auth/impersonate``: cookie, then a client-side redirect to plain ``/app``."""
    token = request.args.get("auth_token", "")
    account = state.token_account(token) if token else None
    if account is None:
        # CoCalc's texts (the token is echoed, as text, never as HTML).
        why = f"unknown or expired token: '{token}'" if token else "invalid empty token"
        return _headers(Response(f"ERROR: impersonate error -- {why}", mimetype="text/plain"))
    nonce = secrets.token_urlsafe(16)
    target = json.dumps(request.script_root + "/app")
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Signing in</title></head>"
        f"<body>Signing in...<script nonce='{nonce}'>window.location.href = {target};</script>"
        "</body></html>"
    )
    response = _headers(Response(body, mimetype="text/html"))
    response.headers["Content-Security-Policy"] = f"default-src 'none'; script-src 'nonce-{nonce}'"
    _set_session_cookie(state, request, response, state.create_session(account))
    return response


# -- documents --------------------------------------------------------------------------------
NOT_COLLABORATOR = "user must be a collaborator on the project"


class DocError(Exception):
    """A file that cannot be shown; ``status`` is the HTTP status of the JSON endpoint."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def load_document(
    state: EmulatorState, project_id: str, path: str, account_id: str | None = None
) -> dict[str, Any]:
    """What the page shows for ``path`` in the project: text, notebook, directory or binary.

    Raises :class:`DocError` for an unknown project, a refused path, a missing file, or (for a
    signed-in ``account_id``) a project the account is not on: a collaborator who was removed
    loses access at once.
    """
    known = account_id is not None and project_id in state.projects
    if known and not state.is_collaborator(account_id, project_id):  # type: ignore[arg-type]
        raise DocError(NOT_COLLABORATOR, 403)
    try:
        target = state.resolve(project_id, path, allow_root=True)
    except UnknownProject as err:
        raise DocError(str(err), 404) from err
    except PathError as err:
        raise DocError(str(err), 400) from err
    doc: dict[str, Any] = {"project_id": project_id, "path": path}
    if target.is_dir():
        entries = []
        for child in sorted(target.iterdir(), key=lambda p: p.name):
            is_dir = child.is_dir() and not child.is_symlink()
            size = 0 if is_dir else child.lstat().st_size
            entries.append({"name": child.name, "is_dir": is_dir, "size": size})
        return {**doc, "kind": "directory", "entries": entries}
    if not target.is_file():
        raise DocError(f"no such file or directory: '{path}'", 404)
    try:
        with target.open("rb") as f:
            data = f.read(MAX_TEXT + 1)
        size = target.stat().st_size
    except OSError as err:
        raise DocError(f"cannot read '{path}': {err.strerror}", 403) from err
    doc["size"] = size
    if b"\x00" in data[:8192]:
        return {**doc, "kind": "binary"}
    truncated = len(data) > MAX_TEXT
    text = data[:MAX_TEXT].decode("utf-8", errors="replace")
    if path.lower().endswith(".ipynb") and not truncated:
        cells = _notebook_cells(text)
        if cells is not None:
            return {**doc, "kind": "notebook", "cells": cells}
    return {**doc, "kind": "text", "text": text, "truncated": truncated}


def _join(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else ""


def _notebook_cells(text: str) -> list[dict[str, Any]] | None:
    """A readable summary of an nbformat-4 notebook, or None if it is not one."""
    try:
        nb = json.loads(text)
    except ValueError:
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        out: dict[str, Any] = {
            "cell_type": str(cell.get("cell_type", "")),
            "source": _join(cell.get("source", "")),
        }
        if out["cell_type"] == "code":
            count = cell.get("execution_count")
            out["execution_count"] = count if isinstance(count, int) else None
            out["outputs"] = [o for o in map(_output, cell.get("outputs") or []) if o]
        cells.append(out)
    return cells


def _output(output: Any) -> dict[str, Any] | None:
    if not isinstance(output, dict):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        return {
            "type": "stream",
            "name": str(output.get("name", "")),
            "text": _join(output.get("text")),
        }
    if kind == "error":
        tb = _join([line + "\n" for line in output.get("traceback") or [] if isinstance(line, str)])
        text = _ANSI.sub("", tb) or f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return {"type": "error", "text": text}
    if kind in ("execute_result", "display_data"):
        raw = output.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        for mime in _IMAGE_TYPES:
            image = _image(mime, data.get(mime))
            if image:
                return {"type": "image", "mime": mime, "data": image}
        if "text/plain" in data:
            return {"type": "text", "text": _join(data["text/plain"])}
    return None


def _image(mime: str, value: Any) -> str | None:
    """Base64 data for an ``<img>`` data URL, checked to be base64 (SVG text is encoded)."""
    text = _join(value)
    if not text:
        return None
    if mime == "image/svg+xml":
        return base64.b64encode(text.encode()).decode()
    compact = "".join(text.split())
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return compact


def _file_endpoint(state: EmulatorState, request: Request) -> Response:
    """``GET /_kiosk/file``: the document as JSON, or ``{"error": ...}``."""
    account = state.session_account(request.cookies.get(COOKIE))
    if state.require_sign_in and account is None:
        return _json({"error": "not signed in"}, 401)
    project_id = request.args.get("project_id", "")
    path = request.args.get("path")
    if path is None:
        return _json({"error": "missing path"}, 400)
    try:
        doc = load_document(state, project_id, path, account)
    except DocError as err:
        return _json({"error": str(err)}, err.status)
    return _json(doc, 200)


# -- pages ------------------------------------------------------------------------------------
_SIGN_IN_BODY = (
    "<h1>Sign in required</h1><p>This CoCalc emulator needs a sign-in. Get an auth "
    "token with the API (<code>user_auth</code> in v1, <code>system.generateUserAuthToken"
    "</code> or <code>org.createToken</code> through conat), then open "
    "<code>/auth/impersonate?auth_token=&lt;token&gt;</code> or add "
    "<code>&amp;auth_token=&lt;token&gt;</code> to this page's URL.</p>"
)
# What cocalc.com's kiosk page shows (upstream issue #8527): this text, no file, no listener.
_BROKEN_MAIN = '<main id="content" data-kind="broken">CoCalc:</main>'


def _page_response(
    state: EmulatorState, request: Request, project_id: str | None, path: str | None
) -> Response:
    """``/app`` or a file page: a kiosk page (``?fullscreen=kiosk``, as the ``kiosk`` setting
    says) or a plain one (any other ``fullscreen``, or none); the sign-in page if need be."""
    signed_in, new_session, account = _sign_in(state, request)
    base = request.script_root
    if not signed_in:
        return static_page("Sign in - CoCalc emulator", _SIGN_IN_BODY, base, 401, "sign-in")
    fullscreen = request.args.get("fullscreen")  # None: no parameter; "": ?fullscreen
    kiosk = fullscreen == "kiosk"
    setting = state.kiosk
    marks = {
        "page": "kiosk" if kiosk else "plain",
        "fullscreen": fullscreen,
        "emulator-kiosk": setting,
    }
    if kiosk and setting == "broken":
        response = _html(_document("CoCalc", _BROKEN_MAIN, base, marks), 200)
    elif kiosk and setting == "stuck":
        # The URL's target never opens (the page shows its banner); the bridge answers.
        response = _file_page(state, base, project_id, None, marks, account)
    else:
        response = _file_page(state, base, project_id, path, marks, account)
    if new_session:
        _set_session_cookie(state, request, response, new_session)
    return response


def _file_page(
    state: EmulatorState,
    base: str,
    project_id: str | None,
    path: str | None,
    marks: dict[str, str | None],
    account_id: str | None = None,
) -> Response:
    """The page that shows a file, a listing or (``/app``) the projects; ``static/kiosk.js``
    renders it and, on a kiosk page under the ``ok`` setting, runs the IFrame listener."""
    kiosk = marks["page"] == "kiosk"
    doc: dict[str, Any] | None = None
    status = 200
    if project_id is not None and path is not None:
        try:
            doc = load_document(state, project_id, path, account_id)
        except DocError as err:
            doc = {"project_id": project_id, "path": path, "kind": "missing", "error": str(err)}
            status = err.status
    config = {
        "kiosk": kiosk,
        "bridge": kiosk and marks["emulator-kiosk"] in ("ok", "stuck"),
        "fullscreen": marks["fullscreen"],
        "base": base,
        "doc": doc,
        "projects": project_list(state, account_id) if doc is None and not kiosk else [],
        "iframe_comm_hosts": list(state.iframe_comm_hosts),
        "dev_http_origins": list(state.dev_http_origins),
        "startup_delay_ms": round(1000 * max(0.0, float(state.kiosk_startup_delay))),
    }
    title = f"{path or '/'} - CoCalc emulator" if path is not None else "CoCalc emulator"
    project, nav = ("", "") if kiosk else _plain_header(state, base, project_id, marks)
    main = (
        '<header id="kiosk-header"><span class="brand">CoCalc emulator</span>'
        f'{project}<span id="kiosk-title"></span>{nav}</header>'
        '<main id="content"><noscript>This page needs JavaScript.</noscript></main>'
    )
    return _html(_document(title, main, base, marks, config), status)


def _plain_header(
    state: EmulatorState, base: str, project_id: str | None, marks: dict[str, str | None]
) -> tuple[str, str]:
    """A plain page's project title and its links (HTML): the project's file listing, and all
    projects unless ``fullscreen=project`` (CoCalc's single-project UI); links keep
    ``fullscreen``. Nothing for ``/app``."""
    if project_id is None:
        return "", ""
    with state.lock:
        project = state.projects.get(project_id)
    fullscreen = marks["fullscreen"]
    query = "" if fullscreen is None else "?" + urlencode({"fullscreen": fullscreen})
    links = [("page-files", "Files", f"{base}/projects/{project_id}/files/{query}")]
    if fullscreen != "project":
        links.insert(0, ("page-projects", "Projects", f"{base}/app{query}"))
    nav = "".join(
        f'<a id="{id_}" href="{html.escape(href, quote=True)}">{text}</a>'
        for id_, text, href in links
    )
    title = html.escape(project.title if project is not None else "")
    return f'<span id="project-title">{title}</span>', f'<nav id="page-nav">{nav}</nav>'


def static_page(
    title: str, body: str, base: str, status: int = 200, page: str = "static"
) -> Response:
    """A server-rendered page (``body`` is HTML, no script) with the kiosk pages' stylesheet
    and CSP; ``page`` is its ``data-page`` (e.g. ``"sign-in"``)."""
    return _html(
        _document(title, f'<main id="content">{body}</main>', base, {"page": page}), status
    )


def project_list(state: EmulatorState, account_id: str | None = None) -> list[dict[str, str]]:
    """``[{project_id, title}]`` of every project that is not deleted (only the account's when
    ``account_id`` is given)."""
    with state.lock:
        return [
            {"project_id": p.project_id, "title": p.title}
            for p in state.projects.values()
            if not p.deleted
            and (account_id is None or state.is_collaborator(account_id, p.project_id))
        ]


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=False)
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _document(
    title: str,
    body: str,
    base: str,
    marks: dict[str, str | None],
    config: dict[str, Any] | None = None,
) -> str:
    """A whole page: ``body`` (HTML) in a ``<body>`` whose class is ``marks["page"]`` and whose
    ``data-*`` attributes are ``marks`` (``None`` left out); with ``config``, ``kiosk.js``."""
    static = html.escape(base + "/_kiosk/static/", quote=True)
    head = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f'<link rel="stylesheet" href="{static}kiosk.css">',
    ]
    if config is not None:
        head.append(
            f'<script type="application/json" id="kiosk-config">{_script_json(config)}</script>'
        )
        head.append(f'<script type="module" src="{static}kiosk.js"></script>')
    data = "".join(
        f' data-{name}="{html.escape(value, quote=True)}"'
        for name, value in marks.items()
        if value is not None
    )
    page_class = html.escape(marks.get("page") or "static", quote=True)
    return "".join(head) + f'</head><body class="{page_class}"{data}>{body}</body></html>'


# -- responses --------------------------------------------------------------------------------
def _headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _html(text: str, status: int) -> Response:
    response = _headers(Response(text, status=status, mimetype="text/html"))
    response.headers["Content-Security-Policy"] = _PAGE_CSP
    return response


def _json(value: Any, status: int) -> Response:
    return _headers(Response(json.dumps(value), status=status, mimetype="application/json"))


def _static(name: str) -> Response | None:
    if not _STATIC_NAME.match(name):
        return None
    file = STATIC_DIR / name
    if not file.is_file():
        return None
    response = Response(file.read_bytes(), content_type=_STATIC_TYPES[file.suffix])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
