"""The conat bridges (PROTOCOL.md §5): ``POST /api/conat/hub`` and ``POST /api/conat/project``.

The body is ``{"name", "args", "timeout"?}`` (plus ``project_id`` for a project); the answer is
HTTP 200 with the method's result as JSON, or HTTP 200 ``{"error": text}``. The bridge's own
refusals (key, project) are plain texts; a method's own error is ``Error: <message>`` (the
hub's reply, passed on), and only the bridge's own failures (its timeout) carry CoCalc's
``callHub`` suffix, as the real server answers. Each method runs in a background thread: when
it has not finished within ``timeout`` ms (default 15000) the bridge answers the 408 timeout
while the method goes on (a copy still completes, once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from . import _accounts as accounts
from . import _jupyter as jupyter
from . import _projects as projects
from ._copy import exclude_option, missing_source, timeout_option
from ._exec import ExecFailed, run_exec
from ._files import listing, read_text, write_text
from ._http import HttpError, get_api_key, json_response, read_body
from ._ops import Banned, NoAccess, OpFailed, create_project
from ._projects import ensure_running
from ._query import run_query
from ._state import ApiKey, PathError, UnknownProject
from ._sync import history
from ._tokens import CONAT_TOKEN_TTL, org_token, user_token
from ._values import js_number, js_str, js_truthy

if TYPE_CHECKING:
    from ._api import ApiContext
    from ._state import EmulatorState

log = logging.getLogger("cocalc_widgets.emulator")

HUB_PATH = "/api/conat/hub"
PROJECT_PATH = "/api/conat/project"
DEFAULT_TIMEOUT_MS = 15000
NO_ACCOUNT_KEY = "must be signed in and MUST provide an api key (cookies are not allowed)"
NO_PROJECT_KEY = "must sign in as project or account"
NO_PROJECT_ID = "must specify project_id or use project-specific api key"
NOT_COLLABORATOR = "user must be a collaborator on the project"
KEY_OTHER_PROJECT = "project specific api key must match requested project"
# Upstream's text, literally (a CoffeeScript interpolation left in a JavaScript string).
BANNED = "banned -- please wait at least #{BAN_TIME_MS/1000}s before trying again"


class _Refused(Exception):
    """The bridge refuses the call before any method runs: ``{"error": text}``, no suffix."""


class _MethodError(Exception):
    """A method's error, answered as CoCalc's hub answers it: ``{"error": "Error: <message>"}``
    (the method's own reply, which the bridge passes on); or, with ``bridge=True``, the bridge's
    own failure (its timeout, a bad timeout) with CoCalc's ``callHub`` suffix."""

    def __init__(
        self,
        message: str,
        code: str = "undefined",
        *,
        bridge: bool = False,
        plain: bool = False,
        name: str = "Error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.bridge = bridge
        self.plain = plain  # thrown as a string, not an Error: no "Error: " prefix
        self.name = name  # the JavaScript error's class name, before the message

    def text(self, subject: str, name: object) -> str:
        """The ``error`` text of the bridge's answer."""
        if not self.bridge:
            return str(self) if self.plain else f"{self.name}: {self}"
        return f"{self} - callHub: subject='{subject}', name='{js_str(name)}', code='{self.code}' "


@dataclass
class _Call:
    """One call of a method: who calls, on which project, with which arguments."""

    ctx: ApiContext
    account_id: str
    project_id: str | None
    args: list
    base_url: str

    @property
    def opts(self) -> dict:
        """The options object (first argument), ``{}`` if there is none."""
        first = self.args[0] if self.args else None
        return first if isinstance(first, dict) else {}


Method = Callable[[_Call], object]


# -- entry points --------------------------------------------------------------------------------
def handle(ctx: ApiContext, request: Request, params: dict) -> Response:
    """Answer ``/api/conat/hub`` or ``/api/conat/project`` (``params``: :func:`read_params`)."""
    hub = request.path == HUB_PATH
    try:
        key = get_api_key(request)
    except HttpError as err:
        return json_response({"error": err.message})
    scope = ctx.state.key_scope(key)
    if scope is None or (hub and scope.account_id is None):
        return json_response({"error": NO_ACCOUNT_KEY if hub else NO_PROJECT_KEY})
    # A project-scoped key acts as its project (CoCalc's isCollaborator lets a project in).
    account_id = scope.account_id or str(scope.project_id)
    call = _Call(ctx, account_id, None, [], request.url_root.rstrip("/"))
    name = params.get("name")
    if hub:
        subject = f"hub.account.{account_id}.api"
        methods, first_is_options = HUB_METHODS, _HUB_OPTIONS
    else:
        try:
            call.project_id, subject = _project(ctx, scope, params)
        except _Refused as err:
            return json_response({"error": str(err)})
        ensure_running(ctx.state, call.project_id)  # CoCalc's bridge touches the project first
        methods, first_is_options = PROJECT_METHODS, frozenset()
    try:
        result = _run_method(call, methods, first_is_options, name, params)
    except _MethodError as err:
        return json_response({"error": err.text(subject, name)})
    return json_response(result)


def read_params(request: Request, max_body: int) -> dict:
    """The call's parameters: only a POST carries them (as in CoCalc's ``getParams``); raises
    :class:`HttpError` for a body too large (413) or malformed JSON (400)."""
    if request.method != "POST":
        return {}
    body = read_body(request, max_body)
    return body if isinstance(body, dict) else {}


def _project(ctx: ApiContext, scope: ApiKey, params: dict) -> tuple[str, str]:
    """The project id and subject of a project call; raises :class:`_Refused`."""
    project_id = params.get("project_id") or scope.project_id
    if not project_id:
        raise _Refused(NO_PROJECT_ID)
    if scope.project_id is not None and scope.project_id != project_id:
        raise _Refused(KEY_OTHER_PROJECT)
    if scope.account_id is not None and not ctx.state.is_collaborator(scope.account_id, project_id):
        raise _Refused(NOT_COLLABORATOR)
    if params.get("compute_server_id") not in (None, 0):
        raise _Refused("the cocalc-widgets emulator has no compute servers")
    return project_id, f"project.{project_id}.0.api.-"


# -- running a method ----------------------------------------------------------------------------
def _run_method(
    call: _Call,
    methods: dict[str, Method],
    first_is_options: frozenset[str],
    name: object,
    params: dict,
) -> object:
    seconds = _timeout_seconds(params.get("timeout"))
    method = methods.get(name) if isinstance(name, str) else None
    if method is None:
        raise _MethodError(f"unknown function '{js_str(name)}'")
    args = params.get("args")
    if args is None:
        args = []
    if not isinstance(args, list):
        raise _MethodError("args must be an array")
    call.args = list(args)
    if name in first_is_options:  # CoCalc's authFirst: the server says who calls
        if not call.args or call.args[0] is None:
            call.args[:1] = [{}]
        if not isinstance(call.args[0], dict):
            raise _MethodError("the first argument must be an options object")
        call.args[0] = {**call.args[0], "account_id": call.account_id}
    return _in_background(_worded(method, call, str(name)), seconds, str(name))


def _worded(method: Method, call: _Call, name: str) -> Callable[[], object]:
    """``method(call)`` with its errors worded the conat way (as :class:`_MethodError`)."""

    def run() -> object:
        try:
            return method(call)
        except Banned:
            raise _MethodError(BANNED) from None
        except NoAccess:
            raise _MethodError(NOT_COLLABORATOR) from None
        except ExecFailed as err:
            raise _MethodError(str(err), plain=True) from None
        except OpFailed as err:
            raise _MethodError(str(err), name=err.name) from None
        except Exception as err:  # never a traceback page
            log.exception("conat %s failed", name)
            raise _MethodError(f"emulator internal error: {err!r}") from None

    return run


def _timeout_seconds(value: object) -> float:
    """The bridge's wait in seconds (``timeout`` is in ms, default 15000)."""
    ms = None if value is None else js_number(value)
    if ms is None:
        ms = DEFAULT_TIMEOUT_MS
    if ms <= 0:
        raise _MethodError("timeout must be positive", bridge=True)
    return min(ms / 1000.0, threading.TIMEOUT_MAX)


def _in_background(run: Callable[[], object], seconds: float, name: str) -> object:
    """``run()``'s result if it finishes within ``seconds``; else the 408 timeout, while
    ``run`` goes on in its thread."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = run()
        except _MethodError as err:
            outcome["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name=f"conat-{name}").start()
    if not done.wait(seconds):
        raise _MethodError("timeout", code="408", bridge=True)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- hub methods ---------------------------------------------------------------------------------
def _ping(call: _Call) -> dict:
    return {"now": _now_ms()}


def _hub_test(call: _Call) -> dict:
    return {"account_id": call.opts["account_id"], "server_time": _now_ms()}


def _generate_user_auth_token(call: _Call) -> str:
    opts = call.opts
    password = "" if opts.get("password") is None else js_str(opts["password"])
    user = js_str(opts.get("user_account_id"))
    state, bans = call.ctx.state, call.ctx.conat_bans
    return user_token(state, bans, opts["account_id"], user, password, CONAT_TOKEN_TTL)


def _revoke_user_auth_token(call: _Call) -> None:
    token = call.args[0] if call.args else None
    if isinstance(token, str):
        call.ctx.state.revoke_token(token)


def _create_org_token(call: _Call) -> dict:
    opts = call.opts
    expire = js_number(opts.get("expire")) if opts.get("expire") is not None else None
    ttl = CONAT_TOKEN_TTL if expire is None else expire / 1000.0 - time.time()
    token = org_token(call.ctx.state, opts["account_id"], js_str(opts.get("user")), ttl)
    return {"token": token, "url": f"{call.base_url}/auth/impersonate?auth_token={token}"}


def _expire_org_token(call: _Call) -> None:
    token = call.opts.get("token")
    if isinstance(token, str):
        call.ctx.state.revoke_token(token)


def _copy_path_between_projects(call: _Call) -> None:
    """Copy, and answer only when the copy has finished (there is no copy id to ask later)."""
    opts, state = call.opts, call.ctx.state
    account_id, src = opts["account_id"], opts.get("src_project_id")
    target = opts.get("target_project_id") or src
    if not state.is_collaborator(account_id, src):
        raise OpFailed("user must be collaborator on source project")
    if target != src and not state.is_collaborator(account_id, target):
        raise OpFailed("user must be collaborator on target project")
    if opts.get("src_path") is None:
        raise OpFailed("path must be specified")  # the project's copyPath says so
    src_path = js_str(opts["src_path"])
    if call.ctx.single_user:
        missing_source(state, str(src), src_path)
    target_path = src_path if opts.get("target_path") is None else js_str(opts["target_path"])
    exclude, timeout = exclude_option(opts.get("exclude")), timeout_option(opts.get("timeout"))
    try:
        op = call.ctx.copies.submit(
            source_project_id=src,
            source_path=src_path,
            target_project_id=target,
            target_path=target_path,
            overwrite_newer=js_truthy(opts.get("overwrite_newer")),
            delete_missing=js_truthy(opts.get("delete_missing")),
            backup=js_truthy(opts.get("backup")),
            exclude=exclude,
            timeout=timeout,
            api="conat",
        )
    except (PathError, UnknownProject) as err:
        raise OpFailed(str(err)) from None
    call.ctx.copies.wait(op, timeout=None)
    if op.error:
        raise OpFailed(op.error)


def _create_project(call: _Call) -> str:
    opts = call.opts
    title = "" if opts.get("title") is None else js_str(opts["title"])
    description = "" if opts.get("description") is None else js_str(opts["description"])
    start = js_truthy(opts.get("start"))
    return create_project(call.ctx.state, opts["account_id"], title, description, start)


def _user_query(call: _Call) -> dict:
    return run_query(
        call.ctx.state, call.opts["account_id"], call.opts.get("query"), call.opts.get("options")
    )


def _on_project(
    op: Callable[[EmulatorState, str, object], object],
) -> Method:
    """A ``projects.*`` method whose options name one ``project_id``."""

    def method(call: _Call) -> object:
        return op(call.ctx.state, call.opts["account_id"], call.opts.get("project_id"))

    return method


def _status(call: _Call) -> dict:
    port = urlsplit(call.base_url).port
    return projects.project_status(
        call.ctx.state, call.opts["account_id"], call.opts.get("project_id"), port
    )


def _stop(call: _Call) -> None:
    opts = call.opts
    projects.stop(
        call.ctx.state, opts["account_id"], opts.get("project_id"), call.ctx.jupyter.stop_project
    )


def _delete_project(call: _Call) -> None:
    opts = call.opts
    projects.delete_project(
        call.ctx.state, opts["account_id"], opts.get("project_id"), call.ctx.jupyter.stop_project
    )


def _add_collaborator(call: _Call) -> dict:
    return projects.add_collaborator(call.ctx.state, call.opts["account_id"], call.opts.get("opts"))


def _remove_collaborator(call: _Call) -> None:
    projects.remove_collaborator(call.ctx.state, call.opts["account_id"], call.opts.get("opts"))


def _with_options(op: Callable[[EmulatorState, str, dict], object]) -> Method:
    """A method ``op(state, account_id, options)``."""

    def method(call: _Call) -> object:
        return op(call.ctx.state, call.opts["account_id"], call.opts)

    return method


def _org_get_all(call: _Call) -> list[dict]:
    return accounts.get_all(call.ctx.state, call.opts["account_id"])


def _get_names(call: _Call) -> dict:
    return accounts.get_names(call.ctx.state, call.args[0] if call.args else None)


def _jupyter_kernels(call: _Call) -> list[dict]:
    ctx = call.ctx
    return jupyter.hub_kernels(
        ctx.jupyter, ctx.state, call.opts["account_id"], call.opts, allow_exec=ctx.allow_exec
    )


def _jupyter_execute(call: _Call) -> dict:
    ctx = call.ctx
    return jupyter.hub_execute(
        ctx.jupyter, ctx.state, call.opts["account_id"], call.opts, allow_exec=ctx.allow_exec
    )


HUB_METHODS: dict[str, Method] = {
    "system.ping": _ping,
    "system.test": _hub_test,
    "system.generateUserAuthToken": _generate_user_auth_token,
    "system.revokeUserAuthToken": _revoke_user_auth_token,
    "system.getNames": _get_names,
    "system.userSearch": _with_options(accounts.user_search),
    "org.getAll": _org_get_all,
    "org.create": _with_options(accounts.create),
    "org.get": _with_options(accounts.get),
    "org.set": _with_options(accounts.set_org),
    "org.addAdmin": _with_options(accounts.add_admin),
    "org.addUser": _with_options(accounts.add_user),
    "org.createUser": _with_options(accounts.create_user),
    "org.createToken": _create_org_token,
    "org.expireToken": _expire_org_token,
    "org.getUsers": _with_options(accounts.get_users),
    "org.removeUser": _with_options(accounts.remove_user),
    "org.removeAdmin": _with_options(accounts.remove_admin),
    "org.message": _with_options(accounts.message),
    "messages.send": _with_options(accounts.send),
    "messages.get": _with_options(accounts.get_messages),
    "projects.copyPathBetweenProjects": _copy_path_between_projects,
    "projects.createProject": _create_project,
    "projects.addCollaborator": _add_collaborator,
    "projects.removeCollaborator": _remove_collaborator,
    "projects.start": _on_project(projects.start),
    "projects.stop": _stop,
    "projects.deleteProject": _delete_project,
    "projects.touch": _on_project(projects.touch),
    "projects.state": _on_project(projects.project_state),
    "projects.status": _status,
    "sync.history": _with_options(history),
    "jupyter.kernels": _jupyter_kernels,
    "jupyter.execute": _jupyter_execute,
    "db.userQuery": _user_query,
}
# Methods whose first argument is an options object that gets ``account_id`` (authFirst).
_HUB_OPTIONS = frozenset(HUB_METHODS) - {
    "system.ping",
    "system.revokeUserAuthToken",
    "system.getNames",
}


# -- project methods -----------------------------------------------------------------------------
def _project_test(call: _Call) -> dict:
    return {"project_id": call.project_id, "server_time": _now_ms()}


def _exec(call: _Call) -> dict:
    ctx = call.ctx
    return run_exec(
        ctx.state,
        call.account_id,
        call.project_id,
        {"path": "", **call.opts},
        allow_exec=ctx.allow_exec,
        name="system.exec",
        conat=True,
    )


def _write_text_file(call: _Call) -> None:
    opts = call.opts
    write_text(
        call.ctx.state, call.account_id, call.project_id, opts.get("path"), opts.get("content")
    )


def _read_text_file(call: _Call) -> str:
    return read_text(call.ctx.state, call.account_id, call.project_id, call.opts.get("path"))


def _listing(call: _Call) -> list[dict]:
    opts = call.opts
    hidden = js_truthy(opts.get("hidden"))
    return listing(call.ctx.state, call.account_id, call.project_id, opts.get("path"), hidden)


def _jupyter_execute_in_project(call: _Call) -> list[dict]:
    ctx = call.ctx
    return jupyter.project_execute(
        ctx.jupyter,
        ctx.state,
        call.account_id,
        str(call.project_id),
        call.opts,
        allow_exec=ctx.allow_exec,
    )


def _list_kernels(call: _Call) -> list[dict]:
    return call.ctx.jupyter.running(str(call.project_id))


def _stop_kernel(call: _Call) -> dict:
    pid = call.opts.get("pid")
    return {"success": call.ctx.jupyter.stop_pid(str(call.project_id), pid)}


PROJECT_METHODS: dict[str, Method] = {
    "system.jupyterExecute": _jupyter_execute_in_project,
    "system.listJupyterKernels": _list_kernels,
    "system.stopJupyterKernel": _stop_kernel,
    "system.ping": _ping,
    "system.test": _project_test,
    "system.exec": _exec,
    "system.writeTextFileToProject": _write_text_file,
    "system.readTextFileFromProject": _read_text_file,
    "system.listing": _listing,
}
