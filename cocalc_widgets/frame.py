"""``CoCalcFrame``: a CoCalc page in a notebook cell, driven over CoCalc's IFrame protocol.

How the pieces talk (one message each way per command):

- Python -> browser: one custom message ``{"kind": "cmd", "cmds": [...]}`` per command (or one
  ``setup`` message carrying every queued command when a view appears).
- The front end keeps the queue next to the IFrame, polls ``status`` until CoCalc answers, sends
  one command at a time with ``postMessage(payload, <CoCalc origin>)`` and matches replies to the
  command in flight (and by ``action``/``project_id``/``path`` for ``open``).
- Browser -> Python: one custom message ``{"kind": "reply", "id", "reply", "ack"}`` per command.
  The read-only traits (``ready``, ``connection``, ``open_files``, ``last_error``,
  ``project_log``) are set in Python from those messages; they are not synced, so they cost no
  message to the browser and are not saved in the notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import anywidget
import traitlets

from . import _validate as check
from ._commands import CommandHandle
from ._host import host_of_origin, in_marimo, in_voila, marimo_wait_error, voila_wait_error
from .errors import BadInput, CoCalcError, CommandError, CommandTimeout, FrameNotReady

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_HOST",
    "DEFAULT_TIMEOUT",
    "NO_BRIDGE_MEMORY",
    "CoCalcFrame",
    "kiosk_url",
    "plain_url",
]

DEFAULT_HOST = "https://cocalc.com"
#: What the IFrame lets CoCalc use by default (its ``allow`` attribute): the clipboard for copy
#: and paste in CoCalc's editors, and fullscreen for CoCalc's own fullscreen views.
DEFAULT_ALLOW = "clipboard-read; clipboard-write; fullscreen"
DEFAULT_TIMEOUT = 30.0
DEFAULT_BRIDGE_WAIT = 10.0
#: Seconds a browser remembers, per CoCalc origin, that its IFrame bridge did not answer (mode
#: ``"auto"`` then starts in navigate mode at once): ``NO_BRIDGE_MEMORY_MS`` in ``js/frame.js``.
NO_BRIDGE_MEMORY = 3600.0
Mode = Literal["auto", "bridge", "navigate"]
Display = Literal["project", "fullscreen", "default"]
_DISPLAYS = {"project": "fullscreen=project&", "fullscreen": "fullscreen&", "default": ""}
#: What navigate mode can do: no CoCalc bridge answers anything else there.
_SHOW_IT = (
    "Display the frame in a notebook open in a browser (make it the last line of a cell, or "
    "display(frame)); a run without a browser (nbclient, nbconvert, papermill, a script) shows "
    "no widget"
)


class Kind:
    """The one protocol between :class:`CoCalcFrame` and its front end (``js/frame.js``, whose
    ``TO_PYTHON`` and ``FROM_PYTHON`` name the same kinds): the ``kind`` of each custom message.

    To the front end: ``setup`` (who relays, the sign-in token, every queued command; sent when
    a view appears or the relaying view changes) and ``cmd`` (one command). From the front end:
    ``hello`` and ``bye`` (a view appears, goes), ``state`` (CoCalc's bridge ready or not, with
    its status reply), ``mode`` (``auto`` decided: bridge or navigate), ``ack`` and ``reply``
    (CoCalc's answers to a command), ``log`` (a project-log event)."""

    SETUP = "setup"
    CMD = "cmd"
    HELLO = "hello"
    BYE = "bye"
    STATE = "state"
    MODE = "mode"
    ACK = "ack"
    REPLY = "reply"
    LOG = "log"
    TO_FRONT_END = frozenset({SETUP, CMD})
    FROM_FRONT_END = frozenset({HELLO, BYE, STATE, MODE, ACK, REPLY, LOG})


_NAVIGATE_ACTIONS = frozenset({"open", "closeall", "status"})
_MAX_LOG = 100
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN_REFRESH_AGE = 6 * 3600.0
#: Seconds a waited command may go on while no view of the frame exists (nothing shows it: a
#: headless run) before it fails with FrameNotReady, instead of waiting out its timeout.
_VIEW_GRACE = 10.0
_MAX_ALLOW = 1000
_FEATURE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_ALLOWLIST_RE = re.compile(r"^(\*|'self'|'src'|'none'|[a-z][a-z0-9+.-]*://[^\s;,'\"]+)$")


def _esm_path() -> Path:
    """The front-end module: ``static/frame.js`` in a wheel, ``js/frame.js`` in a checkout."""
    here = Path(__file__).resolve().parent
    shipped = here / "static" / "frame.js"
    return shipped if shipped.is_file() else here.parent / "js" / "frame.js"


# -- validation (shared with the client) ------------------------------------------------------


#: Whether any CoCalcFrame of this kernel has had a view: a widget front end is there.
_VIEW_SEEN = False


def _widget_front_end() -> bool:
    """Whether a widget front end (JupyterLab's or Notebook's widget manager) has connected to
    this kernel: it opens ipywidgets' control channel when it attaches; nbclient never does."""
    try:
        from ipywidgets import Widget
    except ImportError:  # pragma: no cover - a dependency
        return False
    return getattr(Widget, "_control_comm", None) is not None


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel, where a front end may show widgets."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    return getattr(shell, "kernel", None) is not None


def _check_timeout(value: object, name: str = "timeout") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise BadInput(f"{name} must be a positive number of seconds, got {check.short(value)}")
    return float(value)


def _check_allow(value: object) -> str:
    """The IFrame's ``allow`` attribute (a Permissions Policy list), tidied: ``"a; b"``.

    ``""`` delegates nothing. Each directive is a feature name (``clipboard-read``), optionally
    followed by an allowlist (``'src'``, ``'self'``, ``'none'``, ``*`` or origins); directives are
    separated by ``;``. Feature names the browser does not know are kept (it ignores them)."""
    if not isinstance(value, str):
        raise BadInput(
            "allow must be a string of permissions separated by ';' "
            f"(e.g. {DEFAULT_ALLOW!r}, or '' for none), got {check.short(value)}"
        )
    if len(value) > _MAX_ALLOW or _CONTROL_RE.search(value):
        raise BadInput(
            f"allow must be one line of at most {_MAX_ALLOW} characters, got {check.short(value)}"
        )
    directives = []
    for part in value.split(";"):
        words = part.split()
        if not words:
            continue
        feature, allowlist = words[0], words[1:]
        if "," in part:
            raise BadInput(
                f"allow separates permissions with ';', not ',' (got {check.short(value)}); "
                f"e.g. {DEFAULT_ALLOW!r}"
            )
        if not _FEATURE_RE.match(feature):
            raise BadInput(
                f"allow: {check.short(feature)} is not a permission name like 'clipboard-read' or "
                f"'fullscreen' (got {check.short(value)})"
            )
        bad = [w for w in allowlist if not _ALLOWLIST_RE.match(w)]
        if bad:
            raise BadInput(
                f"allow: {feature} is followed by {check.short(bad[0])}, which is not an allowlist "
                "entry ('src', 'self', 'none', * or an origin like https://cocalc.example)"
            )
        directives.append(" ".join(words))
    return "; ".join(directives)


class _AllowTrait(traitlets.Unicode):
    """A ``Unicode`` trait checked (and tidied) by :func:`_check_allow`: ``BadInput`` if bad."""

    def validate(self, obj: Any, value: Any) -> str:
        return _check_allow(value)


def _split_host(host: object) -> tuple[str, str]:
    """``(base, origin)``: the base URL without trailing slash and the origin of a host."""
    base = check.base_url(host)
    return base, check.origin_of(base)


def _is_loopback(origin: str) -> bool:
    return check.is_loopback(urlsplit(origin).hostname or "")


def plain_url(
    host: str, project_id: str | None, path: str | None = None, display: Display = "project"
) -> str:
    """CoCalc's plain (not kiosk) page of a file, or of a project's file listing (``path``
    ``None``), or ``/app``: the URLs navigate mode loads. ``display``: ``"project"``
    (``?fullscreen=project``, CoCalc's single-project UI), ``"fullscreen"`` or ``"default"``."""
    base, _ = _split_host(host)
    if display not in _DISPLAYS:
        raise BadInput(
            f"display must be 'project', 'fullscreen' or 'default', got {check.short(display)}"
        )
    query = f"{_DISPLAYS[display]}session="
    if project_id is None:
        return f"{base}/app?{query}"
    pid = check.project_id(project_id)
    quoted = (
        "" if path is None else "/".join(quote(p, safe="") for p in check.path(path).split("/"))
    )
    return f"{base}/projects/{pid}/files/{quoted}?{query}"


def _read_auth_url(url: object) -> tuple[str, str]:
    """``(base, token)`` of CoCalc's ``{base}/auth/impersonate?auth_token=<token>``."""
    what = "auth_url must be CoCalc's sign-in URL '<host>/auth/impersonate?auth_token=...'"
    if not isinstance(url, str):
        raise BadInput(what)
    parts = urlsplit(url.strip())
    if not parts.path.endswith("/auth/impersonate") or parts.fragment:
        raise BadInput(what)
    query = parse_qs(parts.query)
    tokens = query.get("auth_token", [])
    if set(query) != {"auth_token"} or len(tokens) != 1 or not tokens[0].strip():
        raise BadInput(what)
    try:
        base = check.base_url(
            f"{parts.scheme}://{parts.netloc}{parts.path[: -len('/auth/impersonate')]}"
        )
    except BadInput:
        raise BadInput(what) from None
    return base, tokens[0].strip()


def kiosk_url(
    host: str, project_id: str | None = None, path: str | None = None, *, kiosk: bool = True
) -> str:
    """The URL of CoCalc's page for a file, a project's files, or ``/app`` (no auth token)."""
    base, _ = _split_host(host)
    query = "fullscreen=kiosk&session=" if kiosk else "session="
    if project_id is None:
        if path is not None:
            raise BadInput("path needs a project_id")
        return f"{base}/app?{query}"
    pid = check.project_id(project_id)
    quoted = (
        "" if path is None else "/".join(quote(p, safe="") for p in check.path(path).split("/"))
    )
    return f"{base}/projects/{pid}/files/{quoted}?{query}"


class CoCalcFrame(anywidget.AnyWidget):
    """A CoCalc page in a notebook cell, driven from Python.

    ``CoCalcFrame(project_id, path)`` shows that file of that project in kiosk mode;
    ``CoCalcFrame()`` shows CoCalc's ``/app`` page. ``host`` defaults to ``client.host`` or
    ``https://cocalc.com``.

    Commands return a :class:`~cocalc_widgets._commands.CommandHandle` at once:
    ``await frame.open_file("a.ipynb")``, ``await frame.status()``, ``await frame.closeall()``,
    ``await frame.command("action", **fields)``; outside a running cell use
    ``handle.result()``. Each takes ``timeout=`` (default: the frame's ``timeout``), counted from
    the moment the command is issued, including waiting for the frame to be displayed and for
    CoCalc to answer. Errors: ``CommandError`` (CoCalc said ``error``; ``.mesg`` has its text),
    ``CommandTimeout`` (no reply; its message lists the usual causes), ``FrameNotReady`` (a
    ``CommandTimeout`` for a command that could not even be sent), ``BadInput``.

    Sign-in: pass ``auth_token=``; or ``client=`` and ``account_id=``/``password=`` to get a fresh
    one with ``client.user_auth`` (API v1 or, on current servers, the conat bridge); or
    ``auth_url=``, the sign-in URL that ``client.create_token(user)`` returns (an organization
    admin's way on cocalc.com). ``sign_in="impersonate"`` (servers since 2024-10) loads
    ``/auth/impersonate?auth_token=...`` and then the kiosk page; ``sign_in="url"`` (older
    servers) appends ``&auth_token=...`` to the kiosk URL.

    Modes (``mode=``, read back in the ``mode`` trait): ``"auto"`` (default) loads the kiosk page
    and waits up to ``bridge_wait`` seconds (10) for CoCalc's IFrame bridge to answer; if it
    does, the frame stays in ``"bridge"`` mode, else it switches once to ``"navigate"`` mode and
    says so (the status line, ``last_error``, a Python warning). ``mode="bridge"`` never falls
    back; ``mode="navigate"`` never tries the bridge. In navigate mode the frame loads CoCalc's
    plain file pages (``display="project"``: ``?fullscreen=project``, see :func:`plain_url`):
    ``open_file`` navigates the IFrame and resolves when the page has loaded, ``closeall`` shows
    the project's file listing, ``status`` answers from what the frame itself knows (not from
    CoCalc: ``{"status": "done", "mode": "navigate", "url": ..., "open_files": ...}``, no
    ``connection``), and any other command raises :class:`CommandError` at once. No project-log
    events come in navigate mode. While the mode is ``"connecting"``, commands wait for the
    decision (within their own timeout) and then run in the mode chosen. ``mode_reason`` says
    why the frame is in its mode.

    When the bridge answers but the frame's own file is not among CoCalc's ``open_files`` (a
    kiosk page stuck on its banner, upstream #8527), the frame opens that file through the
    bridge, once, before it reports ``ready``. When mode ``"auto"`` fell back, the browser
    remembers it (localStorage, per CoCalc origin: only the origin and the time) for
    :data:`NO_BRIDGE_MEMORY` seconds (1 hour): later frames in mode ``"auto"`` then start in
    navigate mode at once (``mode_reason``: ``"remembered: CoCalc's bridge did not answer here
    at HH:MM"``). ``mode="bridge"`` tries the bridge whatever was remembered; a bridge that
    answers clears the memory.

    Permissions: ``allow=`` is the IFrame's ``allow`` attribute, by default
    ``"clipboard-read; clipboard-write; fullscreen"`` (:data:`DEFAULT_ALLOW`: copy and paste in
    CoCalc's editors, CoCalc's own fullscreen views); ``allow=""`` delegates nothing. It is a
    synced trait, set on every view's IFrame before its first page loads. Setting ``frame.allow``
    later updates the attribute of the IFrames shown, but a browser applies it only when an
    IFrame next navigates (in navigate mode, the next ``open_file``/``closeall``); a new view
    (``display(frame)``) uses it from the start. The fullscreen button on the frame's status
    line fills the screen with the frame whatever ``allow`` says (Esc leaves).

    Secrets: the auth token is never a widget trait. It lives in a private attribute and reaches
    the browser only inside the ``setup`` message that answers a view's ``hello``, so it is not in
    ``repr``, in ``get_state()``, in saved notebook widget state or in any error message. The API
    key of ``client`` is never sent to the browser.

    Read-only traits, set from CoCalc's replies (observe them with ``frame.observe``):
    ``ready``, ``connection``, ``open_files`` (exactly as CoCalc's last ``status`` reply gave
    them), ``last_error`` and ``project_log`` (recent ``cocalc-project-log`` events; see also
    :meth:`on_project_log`).
    """

    _esm = _esm_path()

    # Synced (and saved with the notebook): nothing secret.
    _url = traitlets.Unicode("").tag(sync=True)
    _origin = traitlets.Unicode("").tag(sync=True)
    _impersonate_url = traitlets.Unicode("").tag(sync=True)
    _signin = traitlets.Unicode("none").tag(sync=True)
    _kiosk = traitlets.Bool(True).tag(sync=True)
    _mode_request = traitlets.Unicode("auto").tag(sync=True)
    # The mode found out so far ("connecting", "bridge", "navigate"): a new view starts there.
    _mode = traitlets.Unicode("connecting").tag(sync=True)
    _bridge_wait_ms = traitlets.Int(int(DEFAULT_BRIDGE_WAIT * 1000)).tag(sync=True)
    # The frame's own page in navigate mode: {url, project_id, path}.
    _nav = traitlets.Dict().tag(sync=True)
    #: CSS height of the IFrame, e.g. ``"600px"`` (an int means pixels).
    height = traitlets.Unicode("600px").tag(sync=True)
    #: The IFrame's ``allow`` attribute: what the page lets CoCalc use (``""``: nothing). The
    #: browser applies a change at the IFrame's next navigation, not to the page it shows.
    allow = _AllowTrait(DEFAULT_ALLOW).tag(sync=True)

    # Python only: set from the front end's messages, never sent back.
    #: ``"bridge"``, ``"navigate"``, or ``"connecting"`` while mode ``"auto"`` is deciding.
    mode = traitlets.Unicode("connecting", read_only=True)
    #: Why the frame is in its mode, in words ("" while connecting): e.g. "remembered:
    #: CoCalc's bridge did not answer here at 14:02" when this browser remembered a silent bridge.
    mode_reason = traitlets.Unicode("", read_only=True)
    #: CoCalc answered the frame's ``status`` poll (and the page has not reloaded since).
    ready = traitlets.Bool(False, read_only=True)
    #: ``connection`` of CoCalc's last ``status`` reply, as given.
    connection = traitlets.Dict(read_only=True)
    #: ``open_files`` of CoCalc's last ``status`` reply, as given.
    open_files = traitlets.Dict(read_only=True)
    #: Text of the last error reply or timeout ("" if none).
    last_error = traitlets.Unicode("", read_only=True)
    #: The final reply of the last command that finished (``{}`` until one has).
    last_reply: traitlets.Dict[str, Any] = traitlets.Dict(read_only=True)
    #: Recent ``project_log`` events from CoCalc (newest last, at most 100).
    project_log: traitlets.List[dict[str, Any]] = traitlets.List(read_only=True)

    def __init__(
        self,
        project_id: str | None = None,
        path: str | None = None,
        *,
        host: str | None = None,
        client: Any = None,
        auth_token: str | None = None,
        account_id: str | None = None,
        password: str = "",
        auth_url: str | None = None,
        sign_in: Literal["impersonate", "url"] = "impersonate",
        kiosk: bool = True,
        height: int | str = 600,
        timeout: float = DEFAULT_TIMEOUT,
        mode: Mode = "auto",
        bridge_wait: float = DEFAULT_BRIDGE_WAIT,
        display: Display = "project",
        allow: str = DEFAULT_ALLOW,
        **kwargs: Any,
    ) -> None:
        if project_id is not None:
            project_id = check.project_id(project_id)
        if path is not None:
            path = check.path(path)
        if auth_url is not None:
            if auth_token is not None or account_id is not None:
                raise BadInput("give one of auth_url=, auth_token= or account_id=, not several")
            url_base, auth_token = _read_auth_url(auth_url)
            if host is None and client is None:
                host = url_base
            elif check.base_url(host or client.host) != url_base:
                raise BadInput(
                    f"auth_url signs in to {url_base}, but the frame shows "
                    f"{check.base_url(host or client.host)}"
                )
        if host is None:
            host = getattr(client, "host", None) or DEFAULT_HOST
        base, origin = _split_host(host)
        url = kiosk_url(base, project_id, path, kiosk=bool(kiosk))
        if sign_in not in ("impersonate", "url"):
            raise BadInput(f"sign_in must be 'impersonate' or 'url', got {check.short(sign_in)}")
        if auth_token is not None and (not isinstance(auth_token, str) or not auth_token.strip()):
            raise BadInput("auth_token must be a non-empty string")
        if account_id is not None:
            account_id = check.project_id(account_id, "account_id")
            if client is None and auth_token is None:
                raise BadInput("account_id needs a client= to get an auth token with")
        if isinstance(height, bool) or not isinstance(height, (int, str)):
            raise BadInput(
                f"height must be pixels (int) or a CSS length, got {check.short(height)}"
            )
        if mode not in ("auto", "bridge", "navigate"):
            raise BadInput(f"mode must be 'auto', 'bridge' or 'navigate', got {check.short(mode)}")
        bridge_wait = _check_timeout(bridge_wait, "bridge_wait")
        allow = _check_allow(allow)
        home = plain_url(base, project_id, path, display)
        self._display: Display = display
        self._timeout = _check_timeout(timeout)
        self._project_id = project_id
        self._path = path
        self._base = base
        self.__client = client if account_id is not None else None
        self.__account_id = account_id
        self.__password = password
        self.__token: str | None = None if auth_token is None else str(auth_token)
        self.__token_time = time.monotonic()
        if self.__token is None and self.__client is not None:
            self.__token = str(self.__client.user_auth(account_id, password))
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._pending: dict[int, CommandHandle] = {}
        self._views: list[str] = []
        self._leader: str | None = None
        self._page_origin: str | None = None
        #: The event loop the front end's messages arrive on (the kernel's); blocking it in
        #: ``handle.result()`` would keep replies out, so that raises instead.
        self._reply_loop: asyncio.AbstractEventLoop | None = None
        self._origin_warned = False
        self._mode_warned = False
        self._log_callbacks: list[Callable[[dict[str, Any]], Any]] = []
        first_mode = "connecting" if mode == "auto" else mode
        super().__init__(
            _url=url,
            _origin=origin,
            _impersonate_url=f"{base}/auth/impersonate",
            _signin=("none" if self.__token is None else sign_in),
            _kiosk=bool(kiosk),
            _mode_request=mode,
            _mode=first_mode,
            _bridge_wait_ms=round(bridge_wait * 1000),
            _nav={"url": home, "project_id": project_id, "path": path},
            height=f"{height}px" if isinstance(height, int) else height,
            allow=allow,
            **kwargs,
        )
        self.set_trait("mode", first_mode)
        if mode != "auto":
            self.set_trait("mode_reason", f"mode={mode!r} was asked for")
        self.on_msg(self._on_front_msg)

    # -- public read-only properties -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The kiosk URL shown in the frame (without any auth token)."""
        return self._url

    @property
    def host(self) -> str:
        """CoCalc's base URL (no trailing slash)."""
        return self._base

    @property
    def project_id(self) -> str | None:
        """The project shown (``None`` for the ``/app`` page)."""
        return self._project_id

    @property
    def path(self) -> str | None:
        """The file shown (``None`` if none)."""
        return self._path

    @property
    def kiosk(self) -> bool:
        """Whether the page is in kiosk mode (CoCalc only answers commands in kiosk mode)."""
        return self._kiosk

    @property
    def timeout(self) -> float:
        """Default timeout of commands, in seconds."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = _check_timeout(value)

    @property
    def page_origin(self) -> str | None:
        """The notebook page's origin, as reported by the front end (``None`` until shown)."""
        return self._page_origin

    @property
    def views(self) -> int:
        """How many views (displayed copies) of this frame the front end reported."""
        return len(self._views)

    @property
    def pending(self) -> list[CommandHandle]:
        """Commands not finished yet, oldest first."""
        with self._lock:
            return [self._pending[k] for k in sorted(self._pending)]

    def __repr__(self) -> str:
        what = f"project_id={self._project_id!r}, path={self._path!r}, " if self._project_id else ""
        if self.mode == "navigate":
            state = "navigate mode" if self._views else "navigate mode, not shown"
        else:
            state = (
                "ready" if self.ready else ("waiting for CoCalc" if self._views else "not shown")
            )
        extra = f", pending={len(self._pending)}" if self._pending else ""
        return f"CoCalcFrame({what}host={self._base!r}, {state}{extra})"

    # -- commands ------------------------------------------------------------------------------
    def command(
        self, action: str, /, *, timeout: float | None = None, **fields: Any
    ) -> CommandHandle:
        """Send ``{"action": action, **fields}`` to CoCalc; returns a handle at once."""
        if not isinstance(action, str) or not action:
            raise BadInput(f"action must be a non-empty string, got {check.short(action)}")
        if "action" in fields:
            raise BadInput("give the action as the first argument, not as a field")
        if not self._kiosk:
            raise BadInput(
                "commands need kiosk mode: CoCalc's IFrame bridge only listens with "
                "?fullscreen=kiosk, and this frame was made with kiosk=False; nothing was sent"
            )
        if self.mode == "navigate" and action not in _NAVIGATE_ACTIONS:
            error = CommandError(
                f"The frame is in navigate mode, so no CoCalc IFrame bridge can answer "
                f"{action!r}; only open_file, closeall and status work there",
                endpoint=action,
            )
            self.set_trait("last_error", str(error))
            raise error
        seconds = self._timeout if timeout is None else _check_timeout(timeout)
        handle = CommandHandle(
            next(self._ids),
            {"action": action, **fields},
            seconds,
            make_timeout=self._timed_out,
            reply_loop=lambda: self._reply_loop,
            cannot_wait=self._cannot_wait,
            stalled=self._stalled,
            stall_after=_VIEW_GRACE,
        )
        handle.add_done_callback(self._forget)
        self._warn_origin()
        with self._lock:
            self._pending[handle.id] = handle
            leader = self._leader
            if leader is not None:
                handle.mark_sent()
        if leader is not None:
            self.send({"kind": Kind.CMD, "cmds": [self._wire(handle)]})
        return handle

    def open_file(
        self, path: str, project_id: str | None = None, *, timeout: float | None = None
    ) -> CommandHandle:
        """Open ``path`` of ``project_id`` (default: the frame's project) in the frame.

        In bridge mode CoCalc answers ``ack`` (kept in ``handle.ack``) and then ``done`` or
        ``error``. In navigate mode the frame loads the file's page and the handle resolves when
        it has loaded, with ``{"status": "done", "action": "open", "path", "project_id",
        "mode": "navigate"}``.
        """
        path = check.path(path)
        pid = project_id if project_id is not None else self._project_id
        if pid is None:
            raise BadInput("open_file needs a project_id (this frame shows no project)")
        return self.command("open", project_id=check.project_id(pid), path=path, timeout=timeout)

    def status(self, *, timeout: float | None = None) -> CommandHandle:
        """Ask CoCalc for its ``connection`` and ``open_files`` (also mirrored in the traits).

        In navigate mode the answer does not come from CoCalc but from what the frame itself
        knows: ``{"status": "done", "mode": "navigate", "url": <the page shown>,
        "open_files": {project_id: [path]}}``, with no ``connection``.
        """
        return self.command("status", timeout=timeout)

    def closeall(self, *, timeout: float | None = None) -> CommandHandle:
        """Close every open file in the frame (navigate mode: show the project's file listing)."""
        return self.command("closeall", timeout=timeout)

    def on_project_log(
        self, callback: Callable[[dict[str, Any]], Any], remove: bool = False
    ) -> None:
        """Call ``callback(event)`` on each ``cocalc-project-log`` event; ``remove=True`` undoes.

        They belong to CoCalc's IFrame bridge: in navigate mode the frame relays none (a plain
        CoCalc page may still post some, but CoCalc promises nothing there).
        """
        if remove:
            if callback in self._log_callbacks:
                self._log_callbacks.remove(callback)
        elif callback not in self._log_callbacks:
            self._log_callbacks.append(callback)

    # -- internals -----------------------------------------------------------------------------
    def _wire(self, handle: CommandHandle) -> dict[str, Any]:
        remaining = max(0.0, handle.deadline - time.monotonic())
        wire = {"id": handle.id, "payload": handle.payload, "timeout_ms": round(remaining * 1000)}
        payload = handle.payload
        # Where navigate mode goes for it (the front end uses it only in that mode).
        if payload["action"] == "open":
            wire["nav"] = plain_url(
                self._base, payload["project_id"], payload["path"], self._display
            )
        elif payload["action"] == "closeall":
            wire["nav"] = plain_url(self._base, self._project_id, None, self._display)
        return wire

    def _forget(self, handle: CommandHandle) -> None:
        with self._lock:
            self._pending.pop(handle.id, None)

    def _origin_problem(self) -> str | None:
        origin = self._page_origin
        if origin and origin.lower().startswith("http://") and not _is_loopback(self._origin):
            return (
                f"this notebook is served from {origin}, which is not https: CoCalc "
                f"({self._origin}) only answers https origins listed in its iframe_comm_hosts "
                "setting, so it will never answer this frame. Serve Jupyter over https from a "
                "host that CoCalc's admin lists in iframe_comm_hosts"
            )
        return None

    def _cannot_wait(self, handle: CommandHandle) -> BaseException | None:
        """Hosts where waiting for a reply in a cell can never work: say so at once."""
        if in_marimo():
            return marimo_wait_error(f"CoCalc's reply to {handle.action!r}")
        if self._views:
            return None
        if in_voila():
            return voila_wait_error(f"CoCalc's reply to {handle.action!r}")
        if not _in_kernel():
            return self._no_view(
                handle,
                "this Python is not a Jupyter kernel (a script or a terminal), so "
                "nothing can show the frame",
            )
        return None

    def _stalled(self, handle: CommandHandle) -> BaseException | None:
        """A wait that went on ``_VIEW_GRACE`` seconds with no view of the frame fails, unless
        a widget front end is known to be there (its view may just be slow, on a loaded
        machine): only a run without one (nbclient, papermill) gets no view ever."""
        if self._views or _VIEW_SEEN or _widget_front_end():
            return None
        return self._no_view(
            handle, f"no view of the frame appeared within {_VIEW_GRACE:g} s of waiting"
        )

    def _no_view(self, handle: CommandHandle, why: str) -> FrameNotReady:
        """The error of a command that no view of the frame can send, saying only that."""
        error = FrameNotReady(
            f"No reply from CoCalc to {handle.action!r}: {why}, so the command was never "
            f"sent. {_SHOW_IT}",
            endpoint=handle.action,
        )
        self.set_trait("last_error", str(error))
        return error

    def _origin_cause(self) -> str:
        """Why CoCalc may drop this page's messages, for the page's actual origin."""
        origin = self._page_origin
        parts = urlsplit(origin or "")
        drops = "CoCalc drops this page's messages without a reply"
        host = host_of_origin(origin)
        if host == "vscode":
            return (
                f"VS Code shows widgets in a webview whose origin ({origin}) is not https, so "
                f"{drops}, whatever CoCalc's iframe_comm_hosts says; use navigate mode there "
                "(mode 'auto' falls back to it)"
            )
        if host == "colab":
            return (
                f"Colab shows outputs in frames on {origin}, a host that changes with each "
                "notebook: only an iframe_comm_hosts entry '.googleusercontent.com' matches it, "
                f"and that allows every page on Google's user-content domain; without it {drops}"
            )
        if parts.scheme == "http":
            text = (
                f"this notebook's page is {origin}, plain http: CoCalc answers only https pages "
                f"whose host is listed in its iframe_comm_hosts setting, so {drops}"
            )
            if _is_loopback(self._origin):
                text += " (the emulator allows named http origins with --dev-http-origins)"
            return text
        if parts.scheme == "https" and parts.port is not None:
            return (
                f"this notebook's page is {origin}: an origin with a port never matches CoCalc's "
                f"iframe_comm_hosts, so {drops}; serve Jupyter on the default https port (443)"
            )
        if parts.scheme == "https":
            return (
                f"this notebook's page is {origin}, whose host ({parts.hostname}) is not listed "
                f"in CoCalc's site setting iframe_comm_hosts (an entry '{parts.hostname}', or "
                f"'.<its domain>' for every subdomain), so {drops}"
            )
        return (
            "this notebook's page is not https, or its host is not listed in CoCalc's site "
            f"setting iframe_comm_hosts, so {drops}"
        )

    def _warn_origin(self) -> None:
        problem = self._origin_problem()
        if problem and not self._origin_warned:
            self._origin_warned = True
            warnings.warn(f"CoCalcFrame: {problem}.", stacklevel=4)

    def _timed_out(self, handle: CommandHandle) -> CoCalcError:
        """The explanatory timeout error of ``handle``."""
        head = f"No reply from CoCalc to {handle.action!r} within {handle.timeout:g} s"
        if not self._views:
            return self._no_view(handle, "the frame is not displayed (no view of it exists)")
        if self.mode == "navigate":
            reason = "the frame is in navigate mode and the page it loaded did not finish loading"
            cls: type[CommandTimeout] = CommandTimeout
        elif not self.ready:
            reason = "CoCalc never answered the frame's status polls, so the command was not sent"
            cls = FrameNotReady
        elif handle.ack is not None:
            reason = "CoCalc acknowledged the command but did not finish it"
            cls = CommandTimeout
        else:
            reason = "the command was sent but CoCalc did not answer"
            cls = CommandTimeout
        if self.mode == "navigate" and self._views:
            causes = [
                "CoCalc is slow to serve the page, or cannot be reached from this browser",
                "the sign-in did not take (the IFrame then shows CoCalc's sign-in page)",
            ]
        else:
            causes = [self._origin_cause()]
            causes.append("the CoCalc page is not in kiosk mode (?fullscreen=kiosk)")
            causes.append(
                "CoCalc is still loading or signing in (try a longer timeout=, or check the frame)"
            )
            if self.mode == "connecting":
                causes.append(
                    "CoCalc's kiosk mode is broken (as on cocalc.com, upstream #8527): mode "
                    "'auto' switches to navigate mode after bridge_wait"
                )
        text = f"{head}: {reason}. Likely causes: " + "; ".join(
            f"({i}) {c}" for i, c in enumerate(causes, 1)
        )
        error = cls(text, endpoint=handle.action)
        self.set_trait("last_error", str(error))
        return error

    def _send_setup(self, *, with_token: bool) -> None:
        with self._lock:
            handles = [self._pending[k] for k in sorted(self._pending)]
            for h in handles:
                h.mark_sent()
            msg: dict[str, Any] = {
                "kind": Kind.SETUP,
                "leader": self._leader,
                "cmds": [self._wire(h) for h in handles if not h.done()],
            }
        if with_token and self.__token is not None:
            msg["auth_token"] = self._fresh_token()
        self.send(msg)

    def _fresh_token(self) -> str | None:
        age = time.monotonic() - self.__token_time
        if self.__client is not None and age > _TOKEN_REFRESH_AGE:
            try:
                self.__token = str(self.__client.user_auth(self.__account_id, self.__password))
                self.__token_time = time.monotonic()
            except Exception as exc:  # keep the old token; the page will say if it is stale
                self.set_trait("last_error", f"could not refresh the auth token: {exc}")
        return self.__token

    def _set_ready(self, ready: bool) -> None:
        if self.ready != ready:
            self.set_trait("ready", ready)

    def _take_status(self, reply: dict[str, Any]) -> None:
        conn = reply.get("connection")
        if isinstance(conn, dict):
            self.set_trait("connection", conn)
        files = reply.get("open_files")
        if isinstance(files, dict):
            self.set_trait("open_files", files)

    def _on_front_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        with contextlib.suppress(RuntimeError):  # no loop: unit tests, plain scripts
            self._reply_loop = asyncio.get_running_loop()
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        view = content.get("view")
        if not isinstance(view, str):
            return
        if kind == Kind.HELLO:
            global _VIEW_SEEN
            _VIEW_SEEN = True
            origin = content.get("origin")
            if isinstance(origin, str):
                self._page_origin = origin
            with self._lock:
                if view in self._views:
                    self._views.remove(view)
                self._views.append(view)
                self._leader = view  # the newest view relays; older ones only show the page
            self._set_ready(False)
            self._send_setup(with_token=True)
            return
        if kind == Kind.BYE:
            with self._lock:
                if view not in self._views:
                    return
                self._views.remove(view)
                if view != self._leader:
                    return
                self._leader = self._views[-1] if self._views else None
                if self._leader is None:
                    for h in self._pending.values():
                        h.mark_unsent()
            self._set_ready(False)
            if self._leader is not None:
                self._send_setup(with_token=False)
            return
        if view != self._leader:
            return  # a second view: its copies of replies are ignored
        if kind == Kind.MODE:
            self._decided(content)
        elif kind == Kind.STATE:
            reply = content.get("reply")
            if isinstance(reply, dict):
                self._take_status(reply)
            home = content.get("home")
            if isinstance(home, dict) and home.get("status") == "error":
                mesg = home.get("mesg")
                self.set_trait(
                    "last_error",
                    f"CoCalc's bridge answers, but it did not open the frame's own file "
                    f"{self._path!r}: {mesg if isinstance(mesg, str) else 'no reason given'}",
                )
            if content.get("ready") and self.mode == "connecting":
                self._decided({"mode": "bridge"})
            self._set_ready(bool(content.get("ready")))
        elif kind == Kind.ACK:
            handle = self._handle_of(content)
            ack = content.get("ack")
            if handle is not None and isinstance(ack, dict):
                handle.set_ack(ack)
        elif kind == Kind.REPLY:
            self._on_reply(content)
        elif kind == Kind.LOG:
            event = content.get("event")
            if isinstance(event, dict):
                self._on_log(event)

    def _decided(self, content: dict[str, Any]) -> None:
        """The relaying view found out the mode (``auto``): bridge, or navigate from now on."""
        mode = content.get("mode")
        if mode not in ("bridge", "navigate") or self.mode != "connecting":
            return  # decided once: never back and forth
        self.set_trait("mode", mode)
        self._mode = mode  # a view shown later starts in this mode
        if mode != "navigate":
            self.set_trait("mode_reason", "CoCalc's IFrame bridge answered")
            return
        at = content.get("remembered_at")
        if isinstance(at, (int, float)) and not isinstance(at, bool) and at > 0:
            when = time.strftime("%H:%M", time.localtime(at / 1000))
            reason = f"remembered: CoCalc's bridge did not answer here at {when}"
            self.set_trait("mode_reason", reason)
            self.set_trait(
                "last_error",
                f"CoCalcFrame is in navigate mode at once: {reason} (this browser keeps that "
                f"for {NO_BRIDGE_MEMORY / 3600:g} h per CoCalc origin, then tries the bridge "
                "again; mode='bridge' tries it now, and an answer clears the memory)",
            )
            return
        waited = content.get("waited_ms")
        seconds = f"{waited / 1000:g} s" if isinstance(waited, (int, float)) else "bridge_wait"
        self.set_trait("mode_reason", f"CoCalc's IFrame bridge did not answer within {seconds}")
        text = (
            f"CoCalcFrame switched to navigate mode: CoCalc's IFrame bridge did not answer within "
            f"{seconds} ({self._origin_cause()}; or CoCalc's kiosk mode is broken, as on "
            "cocalc.com since about 2024, upstream #8527). open_file, closeall and status now "
            "load CoCalc's file pages; mode='bridge' keeps waiting instead"
        )
        self.set_trait("last_error", text)
        if not self._mode_warned:
            self._mode_warned = True
            warnings.warn(text, stacklevel=2)

    def _handle_of(self, content: dict[str, Any]) -> CommandHandle | None:
        cid = content.get("id")
        if not isinstance(cid, int) or isinstance(cid, bool):
            return None
        with self._lock:
            return self._pending.get(cid)

    def _on_reply(self, content: dict[str, Any]) -> None:
        handle = self._handle_of(content)
        reply = content.get("reply")
        if handle is None or handle.done() or not isinstance(reply, dict):
            return  # unknown, late or duplicate
        ack = content.get("ack")
        # Traits first, so they already reflect the reply when the handle resolves.
        self._take_status(reply)
        self.set_trait("last_reply", reply)
        if reply.get("status") == "error":
            mesg = reply.get("mesg")
            self.set_trait("last_error", f"CoCalc answered {handle.action!r} with an error: {mesg}")
        handle.resolve(reply, ack if isinstance(ack, dict) else None)

    def _on_log(self, event: dict[str, Any]) -> None:
        self.set_trait("project_log", [*self.project_log, event][-_MAX_LOG:])
        for cb in list(self._log_callbacks):
            try:
                cb(event)
            except Exception as exc:  # a callback's error must not break the relay
                self.set_trait("last_error", f"project_log callback failed: {exc!r}")
