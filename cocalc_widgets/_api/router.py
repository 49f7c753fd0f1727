"""Which API generation answers each call, and the calls themselves, typed.

With ``api="auto"`` a call goes to the best generation the server speaks that has its operation
(and can send its options); what the server speaks is asked at most once per generation, with a
read-only request. A fixed ``api`` sends every call there, or says at once that it cannot. Every
error is named after the method the user called (``err.endpoint``), with the generation and
wire endpoint that answered in ``err.route``.

A generation's copy says how to follow it (:data:`~.base.CopyStarted`: an id, a finished
status, or a copy running in the background); :func:`copy_job` alone makes the
:class:`CopyJob` of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .. import _validate as check
from ..copyjob import CopyJob, CopyRequest, CopyStatus
from ..errors import BadInput, CoCalcError
from ..results import ExecResult
from .base import (
    COPY_EXTRAS,
    OPERATIONS,
    CopyById,
    CopyDone,
    CopyStarted,
    Generation,
)

__all__ = ["Router", "copy_job", "labelled"]

_T = TypeVar("_T")


def _relabel(err: CoCalcError, method: str, api: str) -> None:
    if err.route is None:
        err.route = f"{api} {err.endpoint}" if err.endpoint else api
    err.endpoint = method


def labelled(fn: Callable[[], _T], method: str, api: str) -> Callable[[], _T]:
    """``fn`` whose errors name ``method`` (and the generation ``api`` that answered)."""

    def call() -> _T:
        try:
            return fn()
        except CoCalcError as err:
            _relabel(err, method, api)
            raise

    return call


def copy_job(
    started: CopyStarted,
    request: CopyRequest,
    gen: Generation,
    *,
    requested_at: float | None = None,
) -> CopyJob:
    """The :class:`CopyJob` of a copy that ``gen`` started for ``request`` (the one place a
    job is made): a copy with an id is polled by it (``copy_path_status`` requests, on the
    client's waiting schedule), a finished one is done at once, a background one (conat) is
    watched at no cost. Its later errors name the call that made them, with ``gen`` as the
    route. ``requested_at``: when it was sent (seconds since the epoch), if not just now."""
    if isinstance(started, CopyDone):
        job = CopyJob(None, request, last=started.status, api=gen.name)
    elif isinstance(started, CopyById):
        copy_id = started.copy_id
        job = CopyJob(
            copy_id,
            request,
            poll=labelled(lambda: gen.copy_status(copy_id, request), "copy_path_status", gen.name),
            last=started.known,
            schedule=gen.settings.poll_schedule,
            api=gen.name,
        )
    else:  # a background copy's own errors are the copy's
        job = CopyJob(
            None,
            request,
            poll=labelled(started.status, "copy_path_between_projects", gen.name),
            api=gen.name,
            changed=started.changed,
        )
    if requested_at is not None:
        job.requested_at = requested_at
    return job


class Router:
    """The client's generations (``gens``, by name) for one server (``host``), and which one
    answers each call: ``requested`` is ``"auto"`` or a generation's name."""

    def __init__(self, gens: dict[str, Generation], requested: str, host: str) -> None:
        self.gens = gens
        self.requested = requested
        self.host = host
        self._spoken: dict[str, bool] = {}  # what the server speaks, once asked (auto)
        self._lock = threading.Lock()

    def close(self) -> None:
        for gen in self.gens.values():
            gen.close()

    # -- what the server speaks -----------------------------------------------------------------
    @property
    def api(self) -> str:
        """The generation copies go to, ``"auto"`` until the server was asked."""
        if self.requested != "auto":
            return self.requested
        for gen in self.candidates("copy"):
            spoken = self._spoken.get(gen.name)
            if spoken is None:
                return "auto"
            if spoken:
                return gen.name
        return "auto"

    def api_versions(self) -> tuple[str, ...]:
        """The generations the server speaks (asking those not asked yet)."""
        if self.requested != "auto":
            return (self.requested,)
        return tuple(name for name, gen in self.gens.items() if self.speaks(gen, "api_versions"))

    def candidates(self, op: str) -> list[Generation]:
        """The generations that have ``op``, best first."""
        gens = [g for g in self.gens.values() if op in g.prefers]
        return sorted(gens, key=lambda g: g.prefers[op])

    def speaks(self, gen: Generation, method: str) -> bool:
        """Whether the server speaks ``gen`` (asked once); a probe's error names ``method``."""
        with self._lock:
            known = self._spoken.get(gen.name)
            if known is None:
                try:
                    known = gen.probe()
                except CoCalcError as err:  # named after the call made, not the probe's route
                    err.route = gen.name
                    err.endpoint = method
                    raise
                self._spoken[gen.name] = known
            return known

    def choose(self, op: str, method: str, needs: Iterable[str] = ()) -> Generation:
        """The generation that runs ``op`` for ``method``: the chosen one (``api="v1"``, ...),
        or the best one the server speaks that can send every option in ``needs``."""
        needs = set(needs)
        what = OPERATIONS[op]
        if self.requested != "auto":
            gen = self.gens[self.requested]
            if op not in gen.prefers:
                others = " or ".join(g.name for g in self.candidates(op))
                raise BadInput(
                    f"{method} ({what}) is not in CoCalc's API {gen.name}, which this client is "
                    f"set to use (api={gen.name!r}); CoCalc has it in API {others}: use "
                    "api='auto' to let the client choose",
                    endpoint=method,
                )
            self._check_extras(gen, needs, method)
            return gen
        lacking: list[Generation] = []
        for gen in self.candidates(op):
            if not self.speaks(gen, method):
                continue
            if needs - gen.copy_extras:
                lacking.append(gen)
                continue
            return gen
        if lacking:
            self._check_extras(lacking[0], needs, method, also=lacking[1:])
        names = " or ".join(g.name for g in self.candidates(op))
        # Say what the server does speak (asking the generations not asked yet, once each).
        speaks = [name for name, gen in self.gens.items() if self.speaks(gen, method)]
        if speaks:
            why = f"which this server does not speak (it speaks {', '.join(speaks)})"
        else:
            asked = ", ".join(g.probe_route for g in self.candidates(op))
            why = f"and this server answers none of them (asked {asked}): is it a CoCalc server?"
            path = urlsplit(self.host).path
            if path:
                why += (
                    f" The host has a path ({path}): drop it unless CoCalc is served under it "
                    f"(host={check.origin_of(self.host)!r})"
                )
        raise BadInput(f"{method} ({what}) needs CoCalc's API {names}, {why}", endpoint=method)

    def _check_extras(
        self, gen: Generation, needs: set[str], method: str, also: Sequence[Generation] = ()
    ) -> None:
        """Raise :class:`BadInput` unless ``gen`` can send every copy option in ``needs``;
        ``also``: the server's other generations that cannot either (for the message)."""
        gens = [gen, *also]
        names = [name for name in COPY_EXTRAS if name in needs]
        where = {name: [g.name for g in gens if name in g.copy_extras] for name in names}
        which = "this client is set to use" if self.requested != "auto" else "this server speaks"
        for name in names:
            if not where[name]:
                others = [g.name for g in self.candidates("copy") if name in g.copy_extras]
                hint = f" (CoCalc has it in API {' and '.join(others)})" if others else ""
                raise BadInput(
                    f"{name}= is not supported by CoCalc's API "
                    f"{' or '.join(g.name for g in gens)}, which {which}{hint}",
                    endpoint=method,
                )
        if set(names) - gen.copy_extras:  # each option is somewhere, but not all in one
            together = " together with ".join(f"{name}=" for name in names)
            each = "; ".join(f"{name}= only in API {', '.join(where[name])}" for name in names)
            raise BadInput(
                f"no API generation of this server takes {together} in one copy ({each}): "
                "leave one of them out",
                endpoint=method,
            )

    @contextmanager
    def _named(self, method: str, gen: Generation) -> Iterator[None]:
        try:
            yield
        except CoCalcError as err:
            _relabel(err, method, gen.name)
            raise

    # -- the calls, typed -----------------------------------------------------------------------
    def copy(self, request: CopyRequest, *, many: bool = False) -> CopyJob:
        """Start a copy on the generation that has its options (``many``: one of a fan-out's,
        which prefers API v1 where the server still has it); its later errors name the call."""
        method = "copy_path_between_projects"
        needs = [name for name in COPY_EXTRAS if getattr(request, name) is not None]
        gen = self.choose("copy_many" if many else "copy", method, needs)
        with self._named(method, gen):
            started = gen.copy(request)
        return copy_job(started, request, gen)

    def watch(
        self, copy_path_id: str, request: CopyRequest, api: str | None, requested_at: float
    ) -> CopyJob:
        """A job for a copy started earlier by id on ``api`` (or the copy generation)."""
        name = api if api in self.gens and api != "conat" else self.choose("copy", "watch").name
        gen = self.gens[name]
        if "copy_status" not in gen.prefers:
            raise BadInput(f"copies started on API {name} cannot be looked up by id")
        return copy_job(CopyById(copy_path_id), request, gen, requested_at=requested_at)

    def copy_status(self, copy_path_id: str) -> CopyStatus:
        gen = self.choose("copy_status", "copy_path_status")
        with self._named("copy_path_status", gen):
            return gen.copy_status(copy_path_id, None)

    def copy_search(self, filters: dict[str, Any]) -> list[CopyStatus]:
        gen = self.choose("copy_search", "copy_path_status")
        with self._named("copy_path_status", gen):
            return gen.copy_search(filters)

    def copy_delete(self, copy_path_id: str) -> str:
        gen = self.choose("copy_delete", "copy_path_delete")
        with self._named("copy_path_delete", gen):
            return gen.copy_delete(copy_path_id)

    def write_file(self, project_id: str, path: str, content: str) -> None:
        gen = self.choose("write_file", "write_text_file_to_project")
        with self._named("write_text_file_to_project", gen):
            gen.write_file(project_id, path, content)

    def read_file(self, project_id: str, path: str) -> str:
        gen = self.choose("read_file", "read_text_file_from_project")
        with self._named("read_text_file_from_project", gen):
            return gen.read_file(project_id, path)

    def list_files(self, project_id: str, path: str, hidden: bool) -> list[dict[str, Any]]:
        gen = self.choose("list_files", "list_files")
        with self._named("list_files", gen):
            return gen.list_files(project_id, path, hidden)

    def exec(self, project_id: str, fields: dict[str, Any]) -> ExecResult:
        gen = self.choose("exec", "project_exec")
        with self._named("project_exec", gen):
            return gen.exec(project_id, fields)

    def create_project(self, fields: dict[str, Any]) -> str:
        gen = self.choose("create_project", "create_project")
        with self._named("create_project", gen):
            return gen.create_project(fields)

    def user_auth(self, account_id: str, password: str) -> str:
        gen = self.choose("user_auth", "user_auth")
        with self._named("user_auth", gen):
            return gen.user_auth(account_id, password)

    def revoke_auth_token(self, token: str) -> None:
        gen = self.choose("revoke_auth_token", "revoke_auth_token")
        with self._named("revoke_auth_token", gen):
            gen.revoke_auth_token(token)

    def create_token(self, user: str) -> tuple[str, str]:
        gen = self.choose("create_token", "create_token")
        with self._named("create_token", gen):
            return gen.create_token(user)

    def ping(self) -> Any:
        gen = self.choose("ping", "ping")
        with self._named("ping", gen):
            return gen.ping()

    def query(self, query: dict[str, Any], options: list[Any] | None, read: bool) -> Any:
        """A user query; with ``options``, on a generation that sends them (not API v2)."""
        gen = self.choose("query" if options is None else "query_options", "query")
        with self._named("query", gen):
            return gen.query(query, options, read)

    def call_hub(self, name: str, args: list[Any], timeout: float | None) -> Any:
        gen = self.choose("call_hub", "call_hub")
        with self._named("call_hub", gen):
            return gen.call_hub(name, args, timeout)

    def call_project(
        self, project_id: str, name: str, args: list[Any], timeout: float | None
    ) -> Any:
        gen = self.choose("call_project", "call_project")
        with self._named("call_project", gen):
            return gen.call_project(project_id, name, args, timeout)
