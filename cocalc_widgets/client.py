"""``CoCalcClient``: CoCalc's HTTP API in all three generations (v1, the one CoCalc's docs
teach; v2, current servers' REST routes; the conat bridges, what cocalc.com and CoCalc's own
Python client use today) behind one set of methods named as CoCalc's docs name them.

Each generation is a module of :mod:`cocalc_widgets._api`. This module validates arguments
(before anything is sent), picks the generation per call, and names errors after the method
you called.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from . import _validate as check
from ._api import ClientSettings, generations
from ._api.router import Router, labelled
from ._http import RetrySettings, Transport
from ._pacing import Pacer
from .copyjob import CopyJob, CopyRequest, CopyStatus, parse_time
from .errors import AuthenticationError, BadInput, NotADirectory
from .results import AuthLink, AuthToken, ExecResult, FileEntry, OrgToken, Pong

__all__ = ["AuthLink", "AuthToken", "CoCalcClient", "ExecResult", "FileEntry", "OrgToken", "Pong"]

DEFAULT_HOST = "https://cocalc.com"
ApiVersion = Literal["auto", "v1", "v2", "conat"]
_T = TypeVar("_T")


def _resolve_key(api_key: str | None) -> tuple[str, str]:
    if api_key is not None:
        source = "argument"
    elif os.environ.get("COCALC_API_KEY"):
        api_key, source = os.environ["COCALC_API_KEY"], "COCALC_API_KEY"
    elif Path("api.key").is_file():
        api_key, source = Path("api.key").read_text().strip(), "api.key file"
    else:
        raise AuthenticationError(
            "No CoCalc API key: pass api_key=..., set the environment variable COCALC_API_KEY, "
            "or put the key in a file named api.key in the working directory"
        )
    if (
        not isinstance(api_key, str)
        or not api_key.strip()
        or any(c.isspace() for c in api_key.strip())
    ):
        raise AuthenticationError(f"The API key from the {source} is empty or malformed")
    return api_key.strip(), source


def _has_null_leaf(value: Any) -> bool:
    """CoCalc's rule: a query with a null somewhere reads; one without nulls writes."""
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null_leaf(v) for v in value.values())
    if isinstance(value, list):
        return not value or any(_has_null_leaf(v) for v in value)
    return False


def _file_entry(raw: dict[str, Any]) -> FileEntry:
    size, mtime, link = raw.get("size"), raw.get("mtime"), raw.get("link_target")
    return FileEntry(
        name=raw["name"],
        isdir=raw.get("isdir") is True,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mtime=parse_time(mtime * 1000) if isinstance(mtime, (int, float)) else None,
        raw=raw,
        link_target=link if raw.get("issymlink") is True and isinstance(link, str) else None,
    )


class CoCalcClient:
    """A client for CoCalc's HTTP API, whichever generation the server speaks.

    - ``api_key``: the argument, else ``$COCALC_API_KEY``, else the file ``api.key`` in the
      working directory. Never shown in a repr, an error or a log.
    - ``host``: the argument, else ``$COCALC_HOST``, else ``https://cocalc.com``. A key is
      only sent over plain ``http://`` to a loopback host.
    - ``api``: ``"auto"`` (each call goes to the best generation the server has; what it has is
      asked once per generation, with a read-only request), or ``"v1"``, ``"v2"``, ``"conat"``.
    - ``timeout``: ``(connect, read)`` seconds for each request.
    - ``retries`` / ``deadline``: how many times and for how long a safe retry may happen.
    - ``copy_wait``: seconds a copy through the conat bridge (which blocks until the copy is
      done) may take before the bridge gives up waiting; the copy goes on, its outcome is then
      unknown. ``pool_size``: connections, and conat copies in flight at once.
    - ``verify``: the path of a CA file to trust (a self-signed server, the emulator's
      ``--https``), or ``False`` (a loopback host only); default: the system's authorities.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        api: ApiVersion = "auto",
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retries: int = 4,
        deadline: float = 120.0,
        retry_after_max: float = 30.0,
        pool_size: int = 10,
        copy_wait: float = 600.0,
        verify: bool | str | None = None,
    ) -> None:
        known = generations()
        if api != "auto" and api not in known:
            choices = ", ".join(map(repr, ("auto", *known)))
            raise BadInput(f"api must be one of {choices}, got {check.short(api)}")
        self.host = check.base_url(host or os.environ.get("COCALC_HOST") or DEFAULT_HOST)
        host_note = ""
        if not host and not os.environ.get("COCALC_HOST"):
            host_note = (
                f". No host was given and $COCALC_HOST is unset, so the client used the default, "
                f"{DEFAULT_HOST}: pass host=... or set COCALC_HOST"
            )
        hostname = urlsplit(self.host).hostname or ""
        if self.host.startswith("http://") and not check.is_loopback(hostname):
            raise BadInput(
                f"Refusing to send the API key over plain http:// to {hostname}: use https:// "
                "(plain http is only allowed to a loopback host such as 127.0.0.1)"
            )
        if isinstance(timeout, (int, float)):
            timeout = (float(timeout), float(timeout))
        for t in timeout:
            check.seconds(t, "timeout", allow_none=False)
        if check.seconds(copy_wait, "copy_wait", allow_none=False) == 0:
            raise BadInput("copy_wait must be more than 0 seconds")
        key, self._key_source = _resolve_key(api_key)
        self._transport = Transport(
            key,
            timeout=tuple(timeout),  # type: ignore[arg-type]
            retry=RetrySettings(
                retries=retries, deadline=deadline, retry_after_max=retry_after_max
            ),
            pool_size=pool_size,
            verify=_check_verify(verify, hostname),
            host_note=host_note,
        )
        self._settings = ClientSettings(copy_wait=float(copy_wait), workers=max(1, pool_size))
        gens = {
            name: cls(self._transport, self.host, self._settings) for name, cls in known.items()
        }
        self._router = Router(gens, api, self.host)
        #: What a hand-out uses: checked requests, starting and watching copies, the pacer.
        self.copies = Copies(self)

    # -- plumbing -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<CoCalcClient host={self.host!r} api={self.api!r} key=*** (from {self._key_source})>"
        )

    def __enter__(self) -> CoCalcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections (conat copies still running keep theirs until they end)."""
        self._router.close()
        self._transport.close()

    @property
    def api(self) -> str:
        """The API generation copies go to: ``"v1"``, ``"v2"`` or ``"conat"``; ``"auto"``
        until the server was asked (other calls may go elsewhere: see :attr:`api_versions`)."""
        return self._router.api

    @property
    def api_versions(self) -> tuple[str, ...]:
        """The API generations the server speaks, e.g. ``("v2", "conat")`` for cocalc.com.

        Asks the server the first time (one read-only request per generation not yet known);
        with a fixed ``api`` it is that one, unasked."""
        return self._router.api_versions()

    @property
    def requests_sent(self) -> int:
        """How many HTTP requests this client has sent (including retries)."""
        return self._transport.requests_sent

    @property
    def clock_skew(self) -> float:
        """The server's clock minus this machine's, in seconds (from its replies' ``Date``)."""
        return self._transport.clock_skew

    @property
    def poll_schedule(self) -> Callable[[float], float]:
        """The waiting schedule of :meth:`CopyJob.wait`: seconds to sleep after ``t`` seconds
        (see :func:`cocalc_widgets.copyjob.poll_delays`); settable."""
        return self._settings.poll_schedule

    @poll_schedule.setter
    def poll_schedule(self, schedule: Callable[[float], float]) -> None:
        self._settings.poll_schedule = schedule

    @property
    def copy_wait(self) -> float:
        """Seconds a blocking conat copy may take (the bridge's timeout for it); settable."""
        return self._settings.copy_wait

    @copy_wait.setter
    def copy_wait(self, seconds: float) -> None:
        if check.seconds(seconds, "copy_wait", allow_none=False) == 0:
            raise BadInput("copy_wait must be more than 0 seconds")
        self._settings.copy_wait = float(seconds)

    def detect_api(self) -> str:
        """The API generation copies go to on this server (asked once; remembered)."""
        return self._router.choose("copy", "detect_api").name

    def call(self, endpoint: str, **fields: Any) -> dict[str, Any]:
        """Call any endpoint of API v1 or v2: a v1 name (``"user_search"``) or a v2 path
        (``"projects/start"``), on the generation copies go to. Returns the decoded reply;
        errors raise as for the typed methods. For the conat bridges use :meth:`call_hub` and
        :meth:`call_project`."""
        if not isinstance(endpoint, str) or not endpoint.strip("/") or ".." in endpoint:
            raise BadInput(f"endpoint must be an endpoint name, got {endpoint!r}")
        endpoint = endpoint.strip("/")
        api = self.detect_api()
        gen = self._router.gens[api]
        if "call" not in gen.prefers:
            raise BadInput(
                f"call() sends API v1 or v2 requests, and this client uses API {api}: "
                "use call_hub(name, *args) or call_project(project_id, name, *args)",
                endpoint="call",
            )
        return labelled(lambda: gen.call(endpoint, fields), endpoint, api)()

    def call_hub(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        """Call a function of CoCalc's hub through the conat bridge, e.g.
        ``call_hub("system.getNames", [account_id])``; returns its result as decoded JSON.

        ``timeout``: seconds the bridge waits for the answer (CoCalc's default: 15). A call
        that is not answered in time goes on on the server and raises :class:`OutcomeUnknown`.
        Nothing is re-sent after a lost reply."""
        name = _check_function(name)
        timeout = check.seconds(timeout, "timeout")
        return self._router.call_hub(name, list(args), timeout)

    def call_project(
        self, project_id: str, name: str, *args: Any, timeout: float | None = None
    ) -> Any:
        """Call a function of a project through the conat bridge, e.g.
        ``call_project(pid, "system.version")``; as :meth:`call_hub`."""
        project_id = check.project_id(project_id)
        name = _check_function(name)
        timeout = check.seconds(timeout, "timeout")
        return self._router.call_project(project_id, name, list(args), timeout)

    # -- copies ---------------------------------------------------------------------------------
    def copy_path_between_projects(
        self,
        src_project_id: str,
        src_path: str,
        target_project_id: str,
        target_path: str | None = None,
        *,
        overwrite_newer: bool = False,
        delete_missing: bool = False,
        backup: bool = False,
        timeout: float | None = None,
        bwlimit: str | int | None = None,
        exclude: str | Iterable[str] | None = None,
        scheduled: datetime | str | None = None,
        wait_until_done: bool = False,
    ) -> CopyJob:
        """Copy a file or folder from one project to another (rsync semantics).

        Returns a :class:`CopyJob` at once (``wait_until_done=False``, what CoCalc's docs
        recommend); call ``.wait()`` on it. ``timeout`` is rsync's inactivity limit in seconds;
        ``exclude`` rsync patterns (API v1 and conat); ``scheduled`` a later time (API v1);
        ``bwlimit`` a bandwidth limit (API v2 and conat). With ``api="auto"`` the copy goes to
        API v2 (a copy id to poll), else v1, else the conat bridge (which blocks until the copy
        is done: it then runs in the background, see ``copy_wait``). A copy is never re-sent:
        after a lost reply the client looks it up (API v1), or raises :class:`OutcomeUnknown`.
        """
        request = self._copy_request(
            src_project_id,
            src_path,
            target_project_id,
            target_path,
            overwrite_newer=overwrite_newer,
            delete_missing=delete_missing,
            backup=backup,
            timeout=timeout,
            bwlimit=bwlimit,
            exclude=exclude,
            scheduled=scheduled,
            wait_until_done=wait_until_done,
        )
        return self._router.copy(request)

    def _copy_request(
        self,
        src_project_id: str,
        src_path: str,
        target_project_id: str,
        target_path: str | None = None,
        *,
        overwrite_newer: bool = False,
        delete_missing: bool = False,
        backup: bool = False,
        timeout: float | None = None,
        bwlimit: str | int | None = None,
        exclude: str | Iterable[str] | None = None,
        scheduled: datetime | str | None = None,
        wait_until_done: bool = False,
    ) -> CopyRequest:
        """A copy's checked request (raises :class:`BadInput`); nothing is sent."""
        exclude = check.patterns(exclude)
        request = CopyRequest(
            src_project_id=check.project_id(src_project_id, "src_project_id"),
            src_path=check.path(src_path, "src_path"),
            target_project_id=check.project_id(target_project_id, "target_project_id"),
            target_path=None if target_path is None else check.path(target_path, "target_path"),
            overwrite_newer=bool(check.flag(overwrite_newer, "overwrite_newer")),
            delete_missing=bool(check.flag(delete_missing, "delete_missing")),
            backup=bool(check.flag(backup, "backup")),
            timeout=check.seconds(timeout, "timeout"),
            bwlimit=_check_bwlimit(bwlimit),
            exclude=None if exclude is None else tuple(exclude),
            scheduled=check.timestamp(scheduled),
            wait_until_done=bool(check.flag(wait_until_done, "wait_until_done")),
        )
        if request.scheduled and request.wait_until_done:
            raise BadInput(
                "scheduled copies run later: wait_until_done=True cannot be used with scheduled"
            )
        return request

    def copy_path_status(
        self,
        copy_path_id: str | None = None,
        *,
        src_project_id: str | None = None,
        target_project_id: str | None = None,
        src_path: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        pending: bool | None = None,
        failed: bool | None = None,
    ) -> CopyStatus | list[CopyStatus]:
        """The status of one copy (by ``copy_path_id``), or a list of copies matching a search.

        A search needs ``src_project_id`` and/or ``target_project_id`` and is API v1 only.
        ``pending`` (CoCalc's default: True) keeps unfinished copies only; ``failed=True`` keeps
        failed ones only. Copies through the conat bridge have no id: ask their ``CopyJob``.
        """
        filters = {
            "src_project_id": None
            if src_project_id is None
            else check.project_id(src_project_id, "src_project_id"),
            "target_project_id": None
            if target_project_id is None
            else check.project_id(target_project_id, "target_project_id"),
            "src_path": None if src_path is None else check.path(src_path, "src_path"),
            "limit": check.count(limit, "limit", maximum=1000),
            "offset": check.count(offset, "offset", maximum=100000),
            "pending": check.flag(pending, "pending"),
            "failed": check.flag(failed, "failed"),
        }
        if copy_path_id is not None:
            copy_path_id = check.project_id(copy_path_id, "copy_path_id")
            if any(v is not None for v in filters.values()):
                raise BadInput(
                    "copy_path_status takes either a copy_path_id or search filters, not both"
                )
            return self._router.copy_status(copy_path_id)
        if filters["src_project_id"] is None and filters["target_project_id"] is None:
            raise BadInput(
                "copy_path_status needs a copy_path_id, or src_project_id and/or "
                "target_project_id to search"
            )
        search = {k: v for k, v in filters.items() if v is not None}
        return self._router.copy_search(search)

    def copy_path_delete(self, copy_path_id: str) -> str:
        """Cancel a scheduled copy that has not run yet (API v1 only). Returns CoCalc's message."""
        copy_path_id = check.project_id(copy_path_id, "copy_path_id")
        return self._router.copy_delete(copy_path_id)

    # -- files, exec, projects ------------------------------------------------------------------
    def write_text_file_to_project(self, project_id: str, path: str, content: str) -> None:
        """Write ``content`` to ``path`` in the project (creating folders, replacing the file)."""
        project_id, path = check.project_id(project_id), check.path(path)
        content = check.text(content, "content")
        self._router.write_file(project_id, path, content)

    def read_text_file_from_project(self, project_id: str, path: str) -> str:
        """Read a text file from a project (API v1 or conat)."""
        project_id, path = check.project_id(project_id), check.path(path)
        return self._router.read_file(project_id, path)

    def list_files(self, project_id: str, path: str = "", hidden: bool = False) -> list[FileEntry]:
        """The files and folders in a project's folder (``""``: its home), through the conat
        bridge, sorted by name (CoCalc gives them in the file system's order); names starting
        with ``.`` only with ``hidden=True``."""
        project_id = check.project_id(project_id)
        path = "" if path == "" else check.path(path).rstrip("/")
        hidden = bool(check.flag(hidden, "hidden"))
        try:
            entries = self._router.list_files(project_id, path, hidden)
        except NotADirectory as err:
            err.message = (
                f"{path!r} in project {project_id} is a file, not a folder: list_files lists "
                f"a folder (this file's is {path.rpartition('/')[0]!r})"
            )
            raise
        return sorted((_file_entry(e) for e in entries), key=lambda e: e.name)

    def project_exec(
        self,
        project_id: str,
        command: str,
        *,
        args: Iterable[str] | None = None,
        path: str | None = None,
        timeout: float = 10,
        max_output: int | None = None,
        bash: bool = False,
        err_on_exit: bool = True,
    ) -> ExecResult:
        """Run a command in a project; returns its stdout, stderr and exit code."""
        arg_list = None if args is None else list(args)
        if arg_list is not None and not all(isinstance(a, str) for a in arg_list):
            raise BadInput("args must be a list of strings")
        fields = {
            "command": check.text(command, "command"),
            "args": arg_list,
            "path": None if path is None else check.path(path),
            "timeout": check.seconds(timeout, "timeout", allow_none=False),
            "max_output": check.count(max_output, "max_output"),
            "bash": check.flag(bash, "bash"),
            "err_on_exit": check.flag(err_on_exit, "err_on_exit"),
        }
        return self._router.exec(check.project_id(project_id), fields)

    def create_project(
        self,
        title: str | None = None,
        description: str | None = None,
        image: str | None = None,
        license: str | None = None,
        start: bool = False,
    ) -> str:
        """Create a project; returns its id. ``start=True`` also starts it (the conat
        bridge's ``createProject`` does; on API v2, ``projects/start`` after ``create``)."""
        fields = {
            "title": None if title is None else check.text(title, "title"),
            "description": None if description is None else check.text(description, "description"),
            "image": None if image is None else check.text(image, "image"),
            "license": None if license is None else check.text(license, "license"),
            "start": check.flag(start, "start"),
        }
        return self._router.create_project(fields)

    # -- auth tokens ----------------------------------------------------------------------------
    def user_auth(self, account_id: str, password: str = "") -> AuthToken:
        """A fresh auth token that signs a browser in as ``account_id``, for embedding CoCalc
        (see :class:`CoCalcFrame`). A site admin's key may pass ``password=""``; otherwise give
        that account's password (a wrong one makes CoCalc refuse the pair for a while).
        API v1 ``user_auth`` (valid 12 h), else the conat ``system.generateUserAuthToken``
        (valid 24 h). The token is a secret: its repr is hidden."""
        account_id = check.project_id(account_id, "account_id")
        password = check.text(password, "password")
        return AuthToken(self._router.user_auth(account_id, password))

    def revoke_auth_token(self, token: str) -> None:
        """Revoke an auth token (from :meth:`user_auth` or :meth:`create_token`) at once
        (conat). A browser already signed in with it stays signed in."""
        self._router.revoke_auth_token(_check_token(token))

    def create_token(self, user: str) -> OrgToken:
        """A sign-in token for a member of an organization you administer (conat
        ``org.createToken``; site admins may do it for anyone in an org): ``user`` is an account
        id or an email address. Returns ``(token, url)``; the URL (CoCalc's
        ``/auth/impersonate?auth_token=...``) signs a browser in, e.g. ``CoCalcFrame(...,
        auth_url=url)``. Both are secrets and hide in ``repr``."""
        if not isinstance(user, str) or not user.strip() or any(c.isspace() for c in user.strip()):
            raise BadInput(
                f"user must be an account id or an email address, got {check.short(user)}"
            )
        token, url = self._router.create_token(user.strip())
        return OrgToken(AuthToken(token), AuthLink(url))

    # -- the rest -------------------------------------------------------------------------------
    def ping(self) -> Pong:
        """Check that the server answers (conat or API v1); returns its clock and the round trip
        time."""
        start = time.monotonic()
        now = self._router.ping()
        return Pong(now=parse_time(now), latency=time.monotonic() - start)

    def query(self, query: dict[str, Any], options: list[Any] | None = None) -> Any:
        """A CoCalc database query (``user_query``); returns the filled-in ``query``.
        ``options`` (CoCalc's, e.g. ``[{"limit": 5}]``) go through the conat bridge or API v1:
        API v2's ``user-query`` ignores them.

        For example ``{"projects": [{"project_id": None, "title": None}]}`` lists your projects.
        """
        if not isinstance(query, dict) or not query:
            raise BadInput(
                "query must be a non-empty dict, e.g. {'projects': [{'project_id': None}]}"
            )
        if options is not None and not isinstance(options, list):
            raise BadInput("options must be a list")
        # With options, a generation that sends them (API v2 drops them).
        return self._router.query(query, options, _has_null_leaf(query))

    def projects(self) -> list[dict[str, Any]]:
        """Your projects, as dicts with ``project_id``, ``title`` and ``description``."""
        result = self.query(
            {"projects": [{"project_id": None, "title": None, "description": None}]}
        )
        rows = result.get("projects") if isinstance(result, dict) else None
        return [r for r in rows or [] if isinstance(r, dict)]


class Copies:
    """What a hand-out needs of a client (``client.copies``): checked copy requests, starting
    a copy on the generation that suits one copy or a fan-out, watching copies started
    earlier (by id, on the generation that started them), and the pacer of its requests."""

    def __init__(self, client: CoCalcClient) -> None:
        self._client = client

    def request(
        self,
        src_project_id: str,
        src_path: str,
        target_project_id: str,
        target_path: str | None = None,
        **options: Any,
    ) -> CopyRequest:
        """A checked :class:`CopyRequest` (raises :class:`BadInput`); nothing is sent."""
        return self._client._copy_request(
            src_project_id, src_path, target_project_id, target_path, **options
        )

    def check_many(self) -> None:
        """Raise unless the server can take a fan-out's copies (asks it at most once)."""
        self._client._router.choose("copy_many", "copy_to_many")

    def start(self, request: CopyRequest, *, many: bool = False) -> CopyJob:
        """Send the copy: on the best generation for one copy, or for one of many (``many``:
        API v1 where the server still has it, whose search watches them all)."""
        return self._client._router.copy(request, many=many)

    def watch(
        self,
        copy_path_id: str,
        request: CopyRequest,
        api: str | None,
        requested_at: float | None = None,
    ) -> CopyJob:
        """A job for a copy started earlier (by id, on the generation ``api`` that started it)
        at ``requested_at`` (seconds since the epoch; ``None``: unknown, long ago)."""
        # When it was sent, not now: a status search pages back to there (the fan-out's sweep).
        when = requested_at if requested_at is not None else 0.0
        return self._client._router.watch(copy_path_id, request, api, when)

    @property
    def pacer(self) -> Pacer:
        """The pace the client holds its requests to (what the server accepts)."""
        return self._client._transport.pacer


def _check_verify(verify: object, hostname: str) -> bool | str | None:
    if verify is None or verify is True:
        return None
    if isinstance(verify, (str, os.PathLike)) and Path(verify).is_file():
        return str(verify)
    if verify is False:
        if not check.is_loopback(hostname):
            raise BadInput(
                "verify=False sends the API key to whoever answers: it is allowed only for a "
                "loopback host; give the CA file instead (verify='ca.pem')"
            )
        return False
    raise BadInput(f"verify must be True, False or a CA file's path, got {check.short(verify)}")


def _check_function(name: object) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+", name):
        raise BadInput(f"name must be a function name like 'system.ping', got {check.short(name)}")
    return name


def _check_token(token: object) -> str:
    if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token.strip()):
        raise BadInput("token must be a non-empty string without spaces")
    return token.strip()


def _check_bwlimit(bwlimit: object) -> str | int | None:
    if bwlimit is not None and (
        isinstance(bwlimit, bool)
        or not isinstance(bwlimit, (str, int))
        or str(bwlimit).strip() == ""
    ):
        raise BadInput(
            "bwlimit must be an rsync bandwidth limit like '2M' or 2000, "
            f"got {check.short(bwlimit)}"
        )
    return bwlimit
