"""``CoCalcClient``: CoCalc's HTTP API, v1 (the one CoCalc's docs teach) and v2 (the one current
servers run), behind one set of methods named as CoCalc's docs name them."""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from . import _validate as check
from ._http import RetrySettings, Transport, _classify_text
from .copyjob import CopyJob, CopyStatus, _parse_time, poll_delays
from .errors import (
    AuthenticationError,
    BadInput,
    CoCalcError,
    CopyFailed,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
)

__all__ = ["AuthToken", "CoCalcClient", "ExecResult", "Pong"]

DEFAULT_HOST = "https://cocalc.com"
ApiVersion = Literal["auto", "v1", "v2"]

# v1 endpoint name -> v2 path, for the calls both APIs have.
_V2_PATHS = {
    "copy_path_between_projects": "projects/copy-path",
    "copy_path_status": "projects/copy-path-status",
    "create_project": "projects/create",
    "write_text_file_to_project": "projects/write-text-file",
    "project_exec": "exec",
    "query": "user-query",
}
# Calls that change nothing: safe to re-send after a lost reply.
_READ_ONLY = {"copy_path_status", "read_text_file_from_project", "ping"}
_V1_ONLY_HINT = {
    "copy_path_delete": "API v2 has no scheduled copies, so nothing to delete",
    "read_text_file_from_project": "use project_exec(project_id, 'cat', args=[path]) instead",
    "user_auth": "current servers create auth tokens through an organization admin instead",
    "ping": "current servers have no ping endpoint",
    "copy_path_status search": "API v2 looks up one copy by its copy_path_id",
}


class AuthToken(str):
    """An auth token for embedding (a ``str``); its ``repr`` hides it, so it does not show up
    in notebook outputs by accident. Use ``str(token)`` or the value itself where needed."""

    def __repr__(self) -> str:
        return "AuthToken('***')"


@dataclass(frozen=True)
class ExecResult:
    """The output of :meth:`CoCalcClient.project_exec`."""

    stdout: str
    stderr: str
    exit_code: int | None


@dataclass(frozen=True)
class Pong:
    """The reply to :meth:`CoCalcClient.ping`: the server's clock and the round trip time."""

    now: datetime | None
    latency: float


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


class CoCalcClient:
    """A client for CoCalc's HTTP API.

    - ``api_key``: the argument, else ``$COCALC_API_KEY``, else the file ``api.key`` in the
      working directory. Never shown in a repr, an error or a log.
    - ``host``: the argument, else ``$COCALC_HOST``, else ``https://cocalc.com``. A key is
      only sent over plain ``http://`` to a loopback host.
    - ``api``: ``"v1"``, ``"v2"`` or ``"auto"`` (ask the server once, then remember).
    - ``timeout``: ``(connect, read)`` seconds for each request.
    - ``retries`` / ``deadline``: how many times and for how long a safe retry may happen.

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
    ) -> None:
        if api not in ("auto", "v1", "v2"):
            raise BadInput(f"api must be 'auto', 'v1' or 'v2', got {api!r}")
        self.host = check.base_url(host or os.environ.get("COCALC_HOST") or DEFAULT_HOST)
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
        key, self._key_source = _resolve_key(api_key)
        self._requested_api: ApiVersion = api
        self._api: str | None = None if api == "auto" else api
        self._lock = threading.Lock()
        self._claimed: set[str] = set()
        self._v1_too: bool | None = None
        self._clock_skew = 0.0  # server clock minus ours, from the Date header
        self._transport = Transport(
            key,
            timeout=tuple(timeout),  # type: ignore[arg-type]
            retry=RetrySettings(
                retries=retries, deadline=deadline, retry_after_max=retry_after_max
            ),
            pool_size=pool_size,
        )
        self._transport.session.hooks["response"].append(self._note_clock)
        #: The waiting schedule of :meth:`CopyJob.wait` (seconds to sleep after t seconds).
        self.poll_schedule: Callable[[float], float] = poll_delays()

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
        """Close the HTTP connections."""
        self._transport.close()

    @property
    def api(self) -> str:
        """The API in use: ``"v1"``, ``"v2"``, or ``"auto"`` until the server was asked."""
        return self._api or "auto"

    @property
    def requests_sent(self) -> int:
        """How many HTTP requests this client has sent (including retries)."""
        return self._transport.requests_sent

    def _note_clock(self, resp: Any, *args: Any, **kwargs: Any) -> None:
        date = resp.headers.get("Date")
        if date:
            try:
                server = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                return
            self._clock_skew = server - time.time()

    def detect_api(self) -> str:
        """Ask the server which API it speaks (once; remembered). Returns ``"v1"`` or ``"v2"``."""
        with self._lock:
            if self._api:
                return self._api
            try:
                body = self._transport.post(
                    f"{self.host}/api/v2/projects/copy-path-status",
                    {},
                    endpoint="projects/copy-path-status",
                    safe=True,
                )
                if isinstance(body, dict):
                    self._api = "v2"
                    return self._api
            except NotFound:
                pass
            try:
                body = self._transport.post(
                    f"{self.host}/api/v1/ping", {}, endpoint="ping", safe=True
                )
            except NotFound:
                body = None
            if isinstance(body, dict) and body.get("event") == "pong":
                self._api = "v1"
                return self._api
            raise NotFound(
                f"{self.host} answers neither CoCalc's API v2 (/api/v2/projects/copy-path-status) "
                "nor API v1 (/api/v1/ping): is this a CoCalc server?"
            )

    def _version_for(self, endpoint: str, *, v1_only: bool = False) -> str:
        """The API to use for ``endpoint``. With ``api="auto"``, a call that only API v1 has
        goes to v1 when the server serves both (older self-hosted servers do)."""
        api = self._api or self.detect_api()
        if api == "v2" and (v1_only or endpoint in _V1_ONLY_HINT):
            if self._requested_api == "auto" and self._serves_v1():
                return "v1"
            hint = _V1_ONLY_HINT.get(endpoint, "API v2 has no such call")
            raise BadInput(
                f"{endpoint} exists only in API v1, and this server speaks API v2: {hint}",
                endpoint=endpoint,
            )
        return api

    def _serves_v1(self) -> bool:
        """Does the server (detected as v2) also answer API v1? Asked once."""
        with self._lock:
            if self._v1_too is None:
                try:
                    body = self._transport.post(
                        f"{self.host}/api/v1/ping", {}, endpoint="ping", safe=True
                    )
                    self._v1_too = isinstance(body, dict) and body.get("event") == "pong"
                except NotFound:
                    self._v1_too = False
            return self._v1_too

    def _post(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        api: str | None = None,
        safe: bool | None = None,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one call and return its body; a CoCalc error in a 200 body raises."""
        api = api or self._version_for(endpoint)
        path = _V2_PATHS.get(endpoint, endpoint) if api == "v2" else endpoint
        body = {k: v for k, v in body.items() if v is not None}
        reply = self._transport.post(
            f"{self.host}/api/{api}/{path}",
            body,
            endpoint=path,
            safe=endpoint in _READ_ONLY if safe is None else safe,
            read_timeout=read_timeout,
        )
        if not isinstance(reply, dict):
            raise CoCalcError(
                "CoCalc sent a reply that is not a JSON object",
                endpoint=path,
                status=200,
                response=reply,
            )
        text = reply.get("error")
        if text is not None and (api == "v2" or reply.get("event") in ("error", None)):
            text = text if isinstance(text, str) else str(text)
            cls = _classify_text(text)
            raise cls(
                f"CoCalc refused {path}",
                endpoint=path,
                status=200,
                server_message=text,
                response=reply,
            )
        return reply

    def call(self, endpoint: str, **fields: Any) -> dict[str, Any]:
        """Call any endpoint: a v1 name (``"user_search"``) or a v2 path (``"projects/start"``),
        on the API in use. Returns the decoded reply; errors raise as for the typed methods."""
        if not isinstance(endpoint, str) or not endpoint.strip("/") or ".." in endpoint:
            raise BadInput(f"endpoint must be an endpoint name, got {endpoint!r}")
        endpoint = endpoint.strip("/")
        api = self._api or self.detect_api()
        return self._post(endpoint, fields, api=api)

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
        ``exclude`` rsync patterns (API v1 only); ``scheduled`` a later time (API v1 only);
        ``bwlimit`` a bandwidth limit (API v2 only). If the reply is lost the copy is never
        re-sent: the client looks it up, and raises :class:`OutcomeUnknown` if it cannot tell.
        """
        request = {
            "src_project_id": check.project_id(src_project_id, "src_project_id"),
            "src_path": check.path(src_path, "src_path"),
            "target_project_id": check.project_id(target_project_id, "target_project_id"),
            "target_path": None if target_path is None else check.path(target_path, "target_path"),
            "overwrite_newer": check.flag(overwrite_newer, "overwrite_newer"),
            "delete_missing": check.flag(delete_missing, "delete_missing"),
            "backup": check.flag(backup, "backup"),
            "timeout": check.seconds(timeout, "timeout"),
            "exclude": check.patterns(exclude),
            "scheduled": check.timestamp(scheduled),
            "wait_until_done": check.flag(wait_until_done, "wait_until_done"),
        }
        if bwlimit is not None and (
            isinstance(bwlimit, bool)
            or not isinstance(bwlimit, (str, int))
            or str(bwlimit).strip() == ""
        ):
            raise BadInput(
                f"bwlimit must be an rsync bandwidth limit like '2M' or 2000, got {bwlimit!r}"
            )
        if request["scheduled"] and wait_until_done:
            raise BadInput(
                "scheduled copies run later: wait_until_done=True cannot be used with scheduled"
            )
        api = self._version_for("copy_path_between_projects")
        v1_options = request["exclude"] is not None or request["scheduled"] is not None
        if api == "v2" and v1_options and self._requested_api == "auto" and self._serves_v1():
            api = "v1"  # a server that speaks both: use the API that has these options
        lacking = {
            "v1": {"bwlimit": bwlimit},
            "v2": {"exclude": request["exclude"], "scheduled": request["scheduled"]},
        }[api]
        for name, value in lacking.items():
            if value is not None:
                raise BadInput(
                    f"{name}= is not supported by CoCalc's API {api}, which this server speaks",
                    endpoint="copy_path_between_projects",
                )
        if api == "v2":
            body = dict(request, path=request["src_path"], bwlimit=bwlimit)
            del body["src_path"], body["exclude"], body["scheduled"]
        else:
            body = dict(request)
        sent_at = time.time()
        read_timeout = 300.0 + (timeout or 0) if wait_until_done else None
        try:
            reply = self._post(
                "copy_path_between_projects", body, api=api, read_timeout=read_timeout
            )
        except OutcomeUnknown as lost:
            return self._reconcile(request, sent_at, lost)
        except CoCalcError as err:
            not_the_copy = (PermissionDenied, AuthenticationError, BadInput, RateLimited)
            if wait_until_done and err.status == 200 and not isinstance(err, not_the_copy):
                raise CopyFailed(
                    "The copy failed",
                    endpoint=err.endpoint,
                    status=err.status,
                    server_message=err.server_message,
                    response=err.response,
                ) from None
            raise
        copy_id = reply.get("copy_path_id") if api == "v1" else reply.get("copy_id")
        if copy_id:
            self._claimed.add(copy_id)
            pending = CopyStatus(
                copy_path_id=copy_id,
                source_project_id=request["src_project_id"],
                source_path=request["src_path"],
                target_project_id=request["target_project_id"],
                target_path=request["target_path"] or request["src_path"],
                scheduled=_parse_time(request["scheduled"]),
                raw={},
            )
            return CopyJob(self, copy_id, request, last=pending if request["scheduled"] else None)
        if api == "v1" and reply.get("event") != "success":
            raise CoCalcError(
                "Unexpected reply to copy_path_between_projects",
                endpoint="copy_path_between_projects",
                response=reply,
            )
        now = datetime.now(timezone.utc)
        done = CopyStatus(
            source_project_id=request["src_project_id"],
            source_path=request["src_path"],
            target_project_id=request["target_project_id"],
            target_path=request["target_path"] or request["src_path"],
            started=now,
            finished=now,
            raw=reply,
        )
        return CopyJob(self, None, request, last=done)

    def _reconcile(self, request: dict[str, Any], sent_at: float, lost: OutcomeUnknown) -> CopyJob:
        """After a lost reply, find the copy CoCalc started for this request (API v1 only)."""
        if self.api != "v1":
            raise lost
        # CoCalc's search returns unfinished copies (pending=True) or finished ones
        # (pending=False), never both: ask for both, unfinished first, so that a copy finishing
        # between the two searches is still seen by the second.
        found: list[CopyStatus] = []
        try:
            for pending in (True, False):
                found += self.copy_path_status(  # type: ignore[operator]
                    src_project_id=request["src_project_id"],
                    target_project_id=request["target_project_id"],
                    src_path=request["src_path"],
                    pending=pending,
                    limit=100,
                )
        except CoCalcError as err:
            lost.message += f"; looking it up failed too ({type(err).__name__})"
            raise lost from None
        since = datetime.fromtimestamp(sent_at + self._clock_skew - 2.0, tz=timezone.utc)
        target = request["target_path"] or request["src_path"]
        unique = {s.copy_path_id: s for s in reversed(found)}  # the finished record wins
        matches = [
            s
            for s in unique.values()
            if s.copy_path_id not in self._claimed
            and (s.target_path or s.source_path) == target
            and (s.time is None or s.time >= since)
        ]
        if len(matches) == 1:
            job = CopyJob(self, matches[0].copy_path_id, request, last=matches[0])
            self._claimed.add(job.copy_path_id)  # type: ignore[arg-type]
            return job
        if not matches:
            # No record: CoCalc did not start it. Nothing was done, so the caller may retry.
            lost.message += "; CoCalc has no record of this copy, so it most likely did not run"
        else:
            lost.message += f"; {len(matches)} matching copies were found, so it is ambiguous"
        raise lost

    def _copy_status_for(self, copy_path_id: str, request: dict[str, Any]) -> CopyStatus:
        if (self._api or self.detect_api()) == "v2":
            reply = self._post("copy_path_status", {"copy_id": copy_path_id}, api="v2")
            return CopyStatus.from_v2(copy_path_id, reply, request)
        reply = self._post("copy_path_status", {"copy_path_id": copy_path_id}, api="v1")
        data = reply.get("data")
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, dict):
            raise NotFound(
                f"No copy with id {copy_path_id}", endpoint="copy_path_status", response=reply
            )
        return CopyStatus.from_v1(data)

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
        failed ones only.
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
            return self._copy_status_for(copy_path_id, {})
        if filters["src_project_id"] is None and filters["target_project_id"] is None:
            raise BadInput(
                "copy_path_status needs a copy_path_id, or src_project_id and/or "
                "target_project_id to search"
            )
        api = self._version_for("copy_path_status search", v1_only=True)
        reply = self._post("copy_path_status", filters, api=api)
        data = reply.get("data")
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        return [CopyStatus.from_v1(d) for d in items if isinstance(d, dict)]

    def copy_path_delete(self, copy_path_id: str) -> str:
        """Cancel a scheduled copy that has not run yet (API v1 only). Returns CoCalc's message."""
        copy_path_id = check.project_id(copy_path_id, "copy_path_id")
        reply = self._post(
            "copy_path_delete",
            {"copy_path_id": copy_path_id},
            api=self._version_for("copy_path_delete"),
        )
        return str(reply.get("data", ""))

    # -- files, exec, projects ------------------------------------------------------------------
    def write_text_file_to_project(self, project_id: str, path: str, content: str) -> None:
        """Write ``content`` to ``path`` in the project (creating folders, replacing the file)."""
        body = {
            "project_id": check.project_id(project_id),
            "path": check.path(path),
            "content": check.text(content, "content"),
        }
        self._post("write_text_file_to_project", body)

    def read_text_file_from_project(self, project_id: str, path: str) -> str:
        """Read a text file from a project (API v1 only)."""
        body = {"project_id": check.project_id(project_id), "path": check.path(path)}
        reply = self._post("read_text_file_from_project", body)
        return str(reply.get("content", ""))

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
        body = {
            "project_id": check.project_id(project_id),
            "command": check.text(command, "command"),
            "args": arg_list,
            "path": None if path is None else check.path(path),
            "timeout": check.seconds(timeout, "timeout", allow_none=False),
            "max_output": check.count(max_output, "max_output"),
            "bash": check.flag(bash, "bash"),
            "err_on_exit": check.flag(err_on_exit, "err_on_exit"),
        }
        reply = self._post("project_exec", body, read_timeout=timeout + 30.0)
        return ExecResult(
            stdout=str(reply.get("stdout", "")),
            stderr=str(reply.get("stderr", "")),
            exit_code=reply.get("exit_code"),
        )

    def create_project(
        self,
        title: str | None = None,
        description: str | None = None,
        image: str | None = None,
        license: str | None = None,
        start: bool = False,
    ) -> str:
        """Create a project; returns its id."""
        body = {
            "title": None if title is None else check.text(title, "title"),
            "description": None if description is None else check.text(description, "description"),
            "image": None if image is None else check.text(image, "image"),
            "license": None if license is None else check.text(license, "license"),
            "start": check.flag(start, "start"),
        }
        reply = self._post("create_project", body)
        pid = reply.get("project_id")
        if not isinstance(pid, str):
            raise CoCalcError(
                "CoCalc did not return a project_id", endpoint="create_project", response=reply
            )
        return pid

    def user_auth(self, account_id: str, password: str = "") -> AuthToken:
        """A fresh auth token (valid 12 h) that signs a browser in as ``account_id``, for
        embedding CoCalc (see :class:`CoCalcFrame`). An admin key may pass ``password=""``.
        API v1 only. The token is a secret: its repr is hidden."""
        body = {
            "account_id": check.project_id(account_id, "account_id"),
            "password": check.text(password, "password"),
        }
        reply = self._post("user_auth", body)
        token = reply.get("auth_token")
        if not isinstance(token, str) or not token:
            raise CoCalcError("CoCalc did not return an auth token", endpoint="user_auth")
        return AuthToken(token)

    def ping(self) -> Pong:
        """Check that the server answers (API v1); returns its clock and the round trip time."""
        start = time.monotonic()
        reply = self._post("ping", {})
        return Pong(now=_parse_time(reply.get("now")), latency=time.monotonic() - start)

    def query(self, query: dict[str, Any], options: list[Any] | None = None) -> Any:
        """A CoCalc database query (``user_query``); returns the filled-in ``query``.

        For example ``{"projects": [{"project_id": None, "title": None}]}`` lists your projects.
        """
        if not isinstance(query, dict) or not query:
            raise BadInput(
                "query must be a non-empty dict, e.g. {'projects': [{'project_id': None}]}"
            )
        body = {"query": query, "options": options}
        reply = self._post("query", body, safe=_has_null_leaf(query))
        return reply.get("query")

    def projects(self) -> list[dict[str, Any]]:
        """Your projects, as dicts with ``project_id``, ``title`` and ``description``."""
        result = self.query(
            {"projects": [{"project_id": None, "title": None, "description": None}]}
        )
        rows = result.get("projects") if isinstance(result, dict) else None
        return [r for r in rows or [] if isinstance(r, dict)]
