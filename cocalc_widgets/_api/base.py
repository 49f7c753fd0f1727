"""The small interface every CoCalc API generation implements.

A generation (``v1``, ``v2``, ``conat``) is one module of this package with one subclass of
:class:`Generation`. It knows only its own endpoint names, field names, envelopes and error
texts, and says which *operations* it has and how much it is preferred for each (``prefers``).
The client validates arguments, picks a generation per operation (the best one the server
speaks, see ``CoCalcClient``), calls the operation, and names any error after the method the
user called. A generation registers itself when its module is imported, so adding or retiring
one touches one file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeAlias

from .._http import Transport, copy_failure
from ..copyjob import CopyRequest, CopyStatus, poll_delays
from ..errors import (
    AuthenticationError,
    BadInput,
    CoCalcError,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
)
from ..results import ExecResult

#: The operations the client routes, and what each does (for messages).
OPERATIONS: dict[str, str] = {
    "copy": "copy a path between projects",
    "copy_many": "copy a path to many projects",
    "copy_status": "look up a copy by its id",
    "copy_search": "search copies by project",
    "copy_delete": "cancel a scheduled copy",
    "write_file": "write a text file",
    "read_file": "read a text file",
    "list_files": "list a folder",
    "exec": "run a command in a project",
    "create_project": "create a project",
    "user_auth": "create an auth token for embedding",
    "revoke_auth_token": "revoke an auth token",
    "create_token": "create an organization's sign-in token",
    "ping": "ping the server",
    "query": "run a database query",
    "query_options": "run a database query with options",
    "call": "call an endpoint by name",
    "call_hub": "call a hub function",
    "call_project": "call a project function",
}

#: Copy options that only some generations can send (the others every generation has).
COPY_EXTRAS = ("exclude", "scheduled", "bwlimit")
#: The copy options every generation sends, under these names.
COPY_OPTIONS = ("overwrite_newer", "delete_missing", "backup", "timeout")
# Errors that say a copy was refused or may have run, not that it ran and failed.
_NOT_THE_COPY = (PermissionDenied, AuthenticationError, BadInput, RateLimited, OutcomeUnknown)


@dataclass(frozen=True)
class CopyById:
    """A copy the server started and gave an id: its status is asked for by that id.
    ``known``: what is already known of it (a scheduled copy; a copy found after a lost reply)."""

    copy_id: str
    known: CopyStatus | None = None


@dataclass(frozen=True)
class CopyDone:
    """A copy the server carried out (or refused) before it answered: its final status."""

    status: CopyStatus


@dataclass(frozen=True)
class CopyInBackground:
    """A blocking copy (conat) that runs in a background request of this client: ``status``
    says what that request knows (at no cost), ``changed`` is set when it ends."""

    status: Callable[[], CopyStatus]
    changed: threading.Event


#: What a generation's :meth:`Generation.copy` returns: an id to poll, a finished status, or a
#: copy running in the background. The router turns it into a :class:`CopyJob` (one place).
CopyStarted: TypeAlias = CopyById | CopyDone | CopyInBackground


@dataclass
class ClientSettings:
    """The client's settings that generations read at call time (the user may change them)."""

    #: The waiting schedule of :meth:`CopyJob.wait` (seconds to sleep after t seconds).
    poll_schedule: Callable[[float], float] = field(default_factory=poll_delays)
    #: Seconds a blocking copy (conat) may take: the bridge's timeout for it.
    copy_wait: float = 600.0
    #: Most blocking copies (conat) in flight at once.
    workers: int = 10


class Generation:
    """One API generation of CoCalc, bound to a server (``host``) and an HTTP transport."""

    #: ``"v1"``, ``"v2"`` or ``"conat"``.
    name: ClassVar[str] = ""
    #: Operation -> preference among the generations that have it (0 = best).
    prefers: ClassVar[Mapping[str, int]] = {}
    #: Which of :data:`COPY_EXTRAS` this generation can send.
    copy_extras: ClassVar[frozenset[str]] = frozenset()
    #: What :meth:`probe` asks, for messages (``"/api/v1/ping"``).
    probe_route: ClassVar[str] = ""
    #: Every generation, by name (filled as their modules are imported).
    registry: ClassVar[dict[str, type[Generation]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            Generation.registry[cls.name] = cls

    def __init__(self, transport: Transport, host: str, settings: ClientSettings) -> None:
        self.transport = transport
        self.host = host
        self.settings = settings

    def probe(self) -> bool:
        """Does the server speak this generation? One read-only request; ``False`` when the
        server answers "no such page". Other failures (no connection, a refused key before the
        server could tell) raise."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the generation holds (background workers)."""

    def _speaks(self, ask: Callable[[], Any]) -> bool:
        try:
            ask()
        except NotFound as err:
            if err.status == 404:
                return False
            raise
        return True

    # -- operations (a generation implements those in ``prefers``) ------------------------------
    def copy(self, request: CopyRequest) -> CopyStarted:
        """Send the copy; say how to follow it (never a :class:`CopyJob`: the router builds it)."""
        raise NotImplementedError

    def copy_status(self, copy_path_id: str, request: CopyRequest | None) -> CopyStatus:
        raise NotImplementedError

    def copy_search(self, filters: dict[str, Any]) -> list[CopyStatus]:
        raise NotImplementedError

    def copy_delete(self, copy_path_id: str) -> str:
        raise NotImplementedError

    def write_file(self, project_id: str, path: str, content: str) -> None:
        raise NotImplementedError

    def read_file(self, project_id: str, path: str) -> str:
        raise NotImplementedError

    def list_files(self, project_id: str, path: str, hidden: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    def exec(self, project_id: str, fields: dict[str, Any]) -> ExecResult:
        raise NotImplementedError

    def create_project(self, fields: dict[str, Any]) -> str:
        raise NotImplementedError

    def user_auth(self, account_id: str, password: str) -> str:
        raise NotImplementedError

    def revoke_auth_token(self, token: str) -> None:
        raise NotImplementedError

    def create_token(self, user: str) -> tuple[str, str]:
        raise NotImplementedError

    def ping(self) -> Any:
        raise NotImplementedError

    def query(self, query: dict[str, Any], options: list[Any] | None, read: bool) -> Any:
        raise NotImplementedError

    def call(self, endpoint: str, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def call_hub(self, name: str, args: list[Any], timeout: float | None) -> Any:
        raise NotImplementedError

    def call_project(
        self, project_id: str, name: str, args: list[Any], timeout: float | None
    ) -> Any:
        raise NotImplementedError


def unexpected(what: str, reply: Any, endpoint: str) -> CoCalcError:
    """The error for a reply of the wrong shape (never a crash)."""
    kind = type(reply).__name__ if reply is not None else "null"
    return CoCalcError(
        f"CoCalc sent an unexpected reply ({kind}; expected {what})",
        endpoint=endpoint,
        status=200,
        response=reply,
    )


def exec_result(reply: Any) -> ExecResult:
    """An :class:`ExecResult` from a ``{stdout, stderr, exit_code}`` reply."""
    if not isinstance(reply, dict):
        raise unexpected("{stdout, stderr, exit_code}", reply, "exec")
    code = reply.get("exit_code")
    return ExecResult(
        stdout=str(reply.get("stdout") or ""),
        stderr=str(reply.get("stderr") or ""),
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
    )


def finished_now(request: CopyRequest, reply: Any = None, error: str | None = None) -> CopyStatus:
    """The status of a copy that the server carried out (or refused) before it answered."""
    now = datetime.now(timezone.utc)
    return CopyStatus(
        source_project_id=request.src_project_id,
        source_path=request.src_path,
        target_project_id=request.target_project_id,
        target_path=request.target,
        started=now,
        finished=now,
        error=error,
        raw=reply if isinstance(reply, dict) else {},
    )


def as_copy_failure(err: CoCalcError) -> CoCalcError:
    """A waited copy's error: :class:`CopyFailed` when CoCalc says the copy itself failed, the
    error itself when the copy was refused or its outcome is unknown."""
    if err.status != 200 or isinstance(err, _NOT_THE_COPY):
        return err
    return copy_failure(
        err.server_message or err.message,
        endpoint=err.endpoint,
        status=err.status,
        response=err.response,
    )
