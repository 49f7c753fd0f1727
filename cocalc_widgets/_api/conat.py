"""The conat bridges (``POST /api/conat/hub`` and ``/api/conat/project``): what cocalc.com and
CoCalc's own Python client speak today (PROTOCOL.md section 5).

A call is ``{"name": "<service.method>", "args": [...], "timeout": <ms>}`` (plus ``project_id``
for a project). The reply is the method's result as JSON, or HTTP 200 ``{"error": text}``; a
method's error text may carry a `` - callHub: subject=..., name=..., code=...`` suffix, so errors
are matched on the text before it. The bridge waits ``timeout`` ms (15 s by default) and then
answers ``timeout`` while the call goes on on the server: for a copy or another write that means
the outcome is unknown, never a failure.

A copy here blocks until it has finished and gets no id. The client runs it in the background
(a few worker threads, at most ``ClientSettings.workers`` copies at once) behind the usual
:class:`CopyJob` (``CopyInBackground``), with the bridge's timeout set from
``ClientSettings.copy_wait``.
"""

from __future__ import annotations

import copy as _copy
import queue
import re
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .._http import refusal
from ..copyjob import CopyRequest, CopyStatus
from ..errors import (
    AuthenticationError,
    BadInput,
    CoCalcConnectionError,
    CoCalcError,
    CoCalcTimeout,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    ServerError,
)
from ..results import ExecResult
from .base import (
    COPY_OPTIONS,
    CopyDone,
    CopyInBackground,
    Generation,
    as_copy_failure,
    exec_result,
    finished_now,
    unexpected,
)

_HUB = "/api/conat/hub"
_PROJECT = "/api/conat/project"
#: CoCalc's default bridge timeout, in seconds.
BRIDGE_TIMEOUT = 15.0
_COPY = "projects.copyPathBetweenProjects"
_SUFFIX = re.compile(r"\s+-\s+callHub:\s.*?code='(?P<code>[^']*)'\s*$", re.DOTALL)
_BAN = "30 s"  # CoCalc's BAN_TIME_MS for wrong passwords (server/auth/auth-token.ts)


def _message(text: str) -> tuple[str, str | None]:
    """CoCalc's own message (without the ``callHub`` suffix or an ``Error:`` prefix), and the
    bridge's error code if the suffix gave one."""
    match = _SUFFIX.search(text)
    message = text[: match.start()] if match else text
    message = message.strip()
    if message.startswith("Error: "):
        message = message[len("Error: ") :]
    return message, match.group("code") if match else None


def conat_error(reply: dict[str, Any], endpoint: str, *, write: bool, waited: float) -> CoCalcError:
    """The typed error for a conat ``{"error": ...}`` reply."""
    text = reply.get("error")
    if not isinstance(text, str):
        return CoCalcError(
            "CoCalc's conat bridge sent an error that is not a text",
            endpoint=endpoint,
            status=200,
            server_message=None if text is None else repr(text)[:200],
            response=reply,
        )
    message, code = _message(text)
    low = message.lower()
    kw: dict[str, Any] = {
        "endpoint": endpoint,
        "status": 200,
        "server_message": message,  # the full text, suffix and all, stays in ``response``
        "response": reply,
    }
    if low == "timeout" or code == "408":
        if write:
            return OutcomeUnknown(
                f"CoCalc's conat bridge stopped waiting after its timeout ({waited:g} s) while "
                "the call goes on on the server: it may or may not be carried out (it was not "
                "re-sent)",
                **kw,
            )
        return CoCalcTimeout(
            f"CoCalc's conat bridge timed out after {waited:g} s before the answer came", **kw
        )
    if low.startswith("incorrect password"):
        return AuthenticationError(
            f"Wrong password: CoCalc now refuses auth tokens for this user to this API key for "
            f"{_BAN}",
            **kw,
        )
    if low.startswith("banned"):
        return AuthenticationError(
            f"CoCalc refuses auth tokens for this user to this API key for {_BAN} after a wrong "
            "password: wait, then try again with the right password",
            **kw,
        )
    if "no subscribers" in low or code == "503":
        return ServerError(
            "Nothing answered on CoCalc's side (the hub service or the project is not running)",
            **kw,
        )
    if low.startswith("unknown function") or low == "account not found":
        return NotFound("CoCalc has no such thing", **kw)
    if "not in an org" in low or "must be an admin" in low or "must match" in low:
        return PermissionDenied("CoCalc refused the call", **kw)
    if low.startswith(("must specify", "timeout must be positive")):
        return BadInput("CoCalc refused the call", **kw)
    return refusal(message, **kw)


class _Workers:
    """A few daemon threads that run queued calls: at most ``size`` at once, no thread per
    call, and none left behind at exit (a copy goes on in CoCalc anyway)."""

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0  # calls submitted and not yet finished

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._busy += 1
            if self._busy > len(self._threads) and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._run, daemon=True, name=f"{self.name}-{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(fn)

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            finally:
                with self._lock:
                    self._busy -= 1

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


class _BackgroundCopy:
    """A blocking conat copy seen from outside: pending, running, then done, failed or unknown."""

    def __init__(self, request: CopyRequest) -> None:
        self.request = request
        self.changed = threading.Event()
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.error: str | None = None
        self.unknown: OutcomeUnknown | None = None

    def run(self, send: Callable[[], Any]) -> None:
        self.started = datetime.now(timezone.utc)
        try:
            send()
        except OutcomeUnknown as err:
            self.unknown = err
        except CoCalcConnectionError as err:
            if "nothing was sent" in err.message:
                self.error = str(err)
            else:
                self.unknown = OutcomeUnknown(err.message, endpoint=err.endpoint)
        except CoCalcError as err:
            self.error = err.server_message or str(err)
        except Exception as err:  # never lose the job to a bug: say so
            self.unknown = OutcomeUnknown(f"The copy request failed in the client: {err!r}")
        finally:
            self.finished = datetime.now(timezone.utc)
            self.changed.set()

    def status(self) -> CopyStatus:
        if self.unknown is not None:
            raise _copy.copy(self.unknown)
        r = self.request
        done = self.changed.is_set()
        return CopyStatus(
            source_project_id=r.src_project_id,
            source_path=r.src_path,
            target_project_id=r.target_project_id,
            target_path=r.target,
            started=self.started,
            finished=self.finished if done else None,
            error=self.error if done else None,
        )


class Conat(Generation):
    """The conat bridges: everything a current server has that v2 lacks (ping, reading files,
    listings, auth tokens), and copies that block until done."""

    name = "conat"
    prefers = {
        "copy": 2,
        "copy_many": 2,
        "user_auth": 1,
        "revoke_auth_token": 0,
        "create_token": 0,
        "ping": 0,
        "read_file": 0,
        "write_file": 1,
        "list_files": 0,
        "exec": 1,
        "create_project": 1,
        "query": 1,
        "query_options": 0,
        "call_hub": 0,
        "call_project": 0,
    }
    copy_extras = frozenset({"exclude", "bwlimit"})
    probe_route = f"{_HUB} (system.ping)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._workers: _Workers | None = None
        self._workers_lock = threading.Lock()

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()

    # -- the two bridges ------------------------------------------------------------------------
    def _bridge(
        self,
        route: str,
        body: dict[str, Any],
        *,
        safe: bool,
        write: bool,
        timeout: float | None,
    ) -> Any:
        """POST one call; return the method's result, or raise its typed error."""
        name = str(body["name"])
        if timeout is not None:
            body["timeout"] = max(1, round(timeout * 1000))
        waited = BRIDGE_TIMEOUT if timeout is None else timeout
        read_timeout = max(self.transport.timeout[1], waited + 15.0)
        reply = self.transport.post(
            f"{self.host}{route}", body, endpoint=name, safe=safe, read_timeout=read_timeout
        )
        if isinstance(reply, dict) and "error" in reply:
            raise conat_error(reply, name, write=write, waited=waited)
        return reply

    def hub(
        self,
        name: str,
        args: list[Any],
        *,
        safe: bool = False,
        write: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Call a hub function (``system.ping``, ``projects.createProject``, ...)."""
        body = {"name": name, "args": args}
        return self._bridge(_HUB, body, safe=safe, write=write, timeout=timeout)

    def project(
        self,
        project_id: str,
        name: str,
        args: list[Any],
        *,
        safe: bool = False,
        write: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Call a function of a project (``system.exec``, ``system.listing``, ...)."""
        body = {"project_id": project_id, "name": name, "args": args}
        return self._bridge(_PROJECT, body, safe=safe, write=write, timeout=timeout)

    def probe(self) -> bool:
        def ask() -> None:
            try:
                self.hub("system.ping", [], safe=True, write=False)
            except CoCalcError as err:
                if err.status != 200 or isinstance(err, AuthenticationError):
                    raise  # no conat here (404), or the key is refused: say so now

        return self._speaks(ask)

    # -- copies ---------------------------------------------------------------------------------
    def copy(self, request: CopyRequest) -> CopyDone | CopyInBackground:
        options = {
            **request.fields("src_project_id", "src_path", "target_project_id", "target_path"),
            **request.fields(*COPY_OPTIONS, "bwlimit", "exclude"),
        }
        args = [{k: v for k, v in options.items() if v is not None}]
        budget = float(self.settings.copy_wait)

        def send() -> None:
            result = self.hub(_COPY, args, timeout=budget)
            if result is not None:
                raise unexpected("null once the copy has finished", result, _COPY)

        if request.wait_until_done:
            try:
                send()
            except CoCalcError as err:
                raise as_copy_failure(err) from None
            return CopyDone(finished_now(request))
        job = _BackgroundCopy(request)
        with self._workers_lock:
            if self._workers is None:
                self._workers = _Workers(self.settings.workers, "cocalc-copy")
        self._workers.submit(lambda: job.run(send))
        return CopyInBackground(job.status, job.changed)

    # -- files, exec, projects ------------------------------------------------------------------
    def write_file(self, project_id: str, path: str, content: str) -> None:
        name = "system.writeTextFileToProject"
        result = self.project(project_id, name, [{"path": path, "content": content}])
        if result is not None:
            raise unexpected("null", result, name)

    def read_file(self, project_id: str, path: str) -> str:
        name = "system.readTextFileFromProject"
        text = self.project(project_id, name, [{"path": path}], safe=True, write=False)
        if not isinstance(text, str):
            raise unexpected("the file's text", text, name)
        return text

    def list_files(self, project_id: str, path: str, hidden: bool) -> list[dict[str, Any]]:
        name = "system.listing"
        entries = self.project(
            project_id, name, [{"path": path, "hidden": hidden}], safe=True, write=False
        )
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
        ):
            raise unexpected("a list of {name, isdir, size, mtime}", entries, name)
        return entries

    def exec(self, project_id: str, fields: dict[str, Any]) -> ExecResult:
        opts = {k: v for k, v in fields.items() if v is not None}
        reply = self.project(project_id, "system.exec", [opts], timeout=fields["timeout"] + 5.0)
        return exec_result(reply)

    def create_project(self, fields: dict[str, Any]) -> str:
        name = "projects.createProject"
        # CoCalc's projects.createProject starts the project when asked (``start``).
        opts = {k: v for k, v in fields.items() if v is not None and v is not False}
        pid = self.hub(name, [opts])
        if not isinstance(pid, str) or not pid:
            raise unexpected("the new project's id", pid, name)
        return pid

    def query(self, query: dict[str, Any], options: list[Any] | None, read: bool) -> Any:
        name = "db.userQuery"
        opts: dict[str, Any] = {"query": query}
        if options is not None:
            opts["options"] = options
        result = self.hub(name, [opts], safe=read, write=not read)
        if not isinstance(result, dict):
            raise unexpected("the query, filled in", result, name)
        return result

    # -- tokens ---------------------------------------------------------------------------------
    def user_auth(self, account_id: str, password: str) -> str:
        name = "system.generateUserAuthToken"
        opts = {"user_account_id": account_id}
        if password:
            opts["password"] = password
        token = self.hub(name, [opts])
        if not isinstance(token, str) or not token:
            raise unexpected("an auth token", token, name)
        return token

    def revoke_auth_token(self, token: str) -> None:
        name = "system.revokeUserAuthToken"
        result = self.hub(name, [token])
        if result is not None:
            raise unexpected("null", result, name)

    def create_token(self, user: str) -> tuple[str, str]:
        name = "org.createToken"
        result = self.hub(name, [{"user": user}])
        if not (
            isinstance(result, dict)
            and isinstance(result.get("token"), str)
            and isinstance(result.get("url"), str)
            and result["token"]
        ):
            raise unexpected("{token, url}", result, name)
        return result["token"], result["url"]

    # -- the rest -------------------------------------------------------------------------------
    def ping(self) -> Any:
        result = self.hub("system.ping", [], safe=True, write=False)
        now = result.get("now") if isinstance(result, dict) else None
        if not isinstance(now, (int, float)) or isinstance(now, bool):
            raise unexpected("{now: <ms>}", result, "system.ping")
        return now

    def call_hub(self, name: str, args: list[Any], timeout: float | None) -> Any:
        return self.hub(name, args, timeout=timeout)

    def call_project(
        self, project_id: str, name: str, args: list[Any], timeout: float | None
    ) -> Any:
        return self.project(project_id, name, args, timeout=timeout)
