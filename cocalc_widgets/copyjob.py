"""Copy operations: :class:`CopyStatus` (what CoCalc says about a copy) and :class:`CopyJob`
(a copy that was started, which can be polled and waited for)."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ._http import copy_failure
from .errors import CoCalcTimeout, CopyFailed

__all__ = ["CopyJob", "CopyRequest", "CopyStatus", "parse_time", "poll_delays"]


def parse_time(value: Any) -> datetime | None:
    """A timezone-aware time from CoCalc's milliseconds since the epoch or an ISO text
    (``None`` for nothing, or for what is neither)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):  # milliseconds since the epoch
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


@dataclass(frozen=True)
class CopyStatus:
    """The state of one copy operation, with every field CoCalc reports.

    ``done`` is true once ``finished`` is set; ``ok`` once it finished without ``error``.
    Times are timezone-aware ``datetime`` objects (or ``None``); ``raw`` is the server's record.
    """

    copy_path_id: str | None = None
    time: datetime | None = None
    source_project_id: str | None = None
    source_path: str | None = None
    target_project_id: str | None = None
    target_path: str | None = None
    overwrite_newer: bool | None = None
    delete_missing: bool | None = None
    backup: bool | None = None
    started: datetime | None = None
    finished: datetime | None = None
    scheduled: datetime | None = None
    error: str | None = None
    exclude: list[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_v1(cls, record: dict[str, Any]) -> CopyStatus:
        """Build from a v1 ``CopyOp`` record."""
        return cls(
            copy_path_id=record.get("copy_path_id"),
            time=parse_time(record.get("time")),
            source_project_id=record.get("source_project_id"),
            source_path=record.get("source_path"),
            target_project_id=record.get("target_project_id"),
            target_path=record.get("target_path"),
            overwrite_newer=record.get("overwrite_newer"),
            delete_missing=record.get("delete_missing"),
            backup=record.get("backup"),
            started=parse_time(record.get("started")),
            finished=parse_time(record.get("finished")),
            scheduled=parse_time(record.get("scheduled")),
            error=record.get("error") or None,
            exclude=record.get("exclude"),
            raw=dict(record),
        )

    @classmethod
    def from_v2(cls, copy_id: str, body: dict[str, Any], request: CopyRequest | None) -> CopyStatus:
        """Build from a v2 ``copy-path-status`` reply plus what we asked for (``None``: a copy
        looked up by its id alone, whose projects and paths v2 does not say)."""
        return cls(
            copy_path_id=copy_id,
            source_project_id=request.src_project_id if request else None,
            source_path=request.src_path if request else None,
            target_project_id=request.target_project_id if request else None,
            target_path=request.target if request else None,
            started=parse_time(body.get("started")),
            finished=parse_time(body.get("finished")),
            error=body.get("copy_error") or None,
            raw=dict(body),
        )

    @property
    def done(self) -> bool:
        """The copy has finished (successfully or not)."""
        return self.finished is not None

    @property
    def ok(self) -> bool:
        """The copy has finished without an error."""
        return self.done and not self.error

    @property
    def state(self) -> str:
        """One word: ``scheduled``, ``pending``, ``running``, ``done`` or ``failed``."""
        if self.done:
            return "failed" if self.error else "done"
        if self.started:
            return "running"
        return "scheduled" if self.scheduled else "pending"

    def _route(self) -> str:
        src = f"{(self.source_project_id or '?')[:8]}:{self.source_path or '?'}"
        dst = f"{(self.target_project_id or '?')[:8]}:{self.target_path or self.source_path or '?'}"
        return f"{src} -> {dst}"

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return f"<CopyStatus {self.state} {self._route()} id={self.copy_path_id}{extra}>"

    def _rows(self) -> Iterator[tuple[str, Any]]:
        for f in fields(self):
            if f.name != "raw":
                value = getattr(self, f.name)
                if value not in (None, [], ""):
                    yield f.name, value

    def _repr_html_(self) -> str:
        color = {"done": "#2a7", "failed": "#c33"}.get(self.state, "#888")
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
            for k, v in self._rows()
        )
        return (
            f"<div><b>Copy</b> <span style='color:{color}'>{self.state}</span> "
            f"<code>{html.escape(self._route())}</code><table>{rows}</table></div>"
        )


def poll_delays(
    first: float = 0.03, growth: float = 0.2, floor: float = 0.1, cap: float = 60.0
) -> Callable[[float], float]:
    """The waiting schedule of :meth:`CopyJob.wait`: seconds to sleep after ``elapsed`` seconds.

    The first poll comes after ``first`` seconds, then every ``floor`` seconds, then about
    ``growth`` times the time already waited, up to ``cap``. So a copy is seen, on average,
    within ``growth / 2`` of its duration (tens of milliseconds for a 0.3 s copy), and a copy
    that takes ten minutes costs a few dozen requests.
    """

    def delay(elapsed: float) -> float:
        if elapsed <= 0:
            return first
        return min(cap, max(floor, growth * elapsed))

    return delay


@dataclass(frozen=True)
class CopyRequest:
    """A checked copy request, in the client's names (``src_path``, ``target_path``, ...):
    what a :class:`CopyJob` was asked to do. Each API generation maps it to its own wire
    names; :meth:`CoCalcClient.copy_path_between_projects` checks it before anything is sent."""

    src_project_id: str
    src_path: str
    target_project_id: str
    target_path: str | None = None
    overwrite_newer: bool = False
    delete_missing: bool = False
    backup: bool = False
    #: rsync's inactivity limit in seconds.
    timeout: float | None = None
    bwlimit: str | int | None = None
    #: rsync exclude patterns.
    exclude: tuple[str, ...] | None = None
    #: When to run it: a UTC ISO time (API v1).
    scheduled: str | None = None
    wait_until_done: bool = False

    @property
    def target(self) -> str:
        """Where the copy goes in the target project (the source's path if none was given)."""
        return self.target_path or self.src_path

    def fields(self, *names: str) -> dict[str, Any]:
        """The named fields (``None`` included) as JSON values, for a request body."""
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def all_fields(self) -> dict[str, Any]:
        """Every field, as :meth:`fields` gives them."""
        return self.fields(*(f.name for f in fields(self)))


class CopyJob:
    """A copy started with :meth:`CoCalcClient.copy_path_between_projects`.

    ``status()`` asks CoCalc (on a conat-only server, where CoCalc gives copies no id, it says
    what the background request knows, at no cost); ``wait()`` waits until the copy finishes and
    returns the final :class:`CopyStatus` (raising :class:`CopyFailed` if it failed). ``done``,
    ``ok`` and ``error`` reflect the latest known status, asking CoCalc once if the copy is not
    known to be finished yet. When the server could not say how a copy ended (the conat
    bridge's timeout, a lost reply), these raise :class:`OutcomeUnknown`.
    """

    def __init__(
        self,
        copy_path_id: str | None,
        request: CopyRequest,
        *,
        poll: Callable[[], CopyStatus] | None = None,
        last: CopyStatus | None = None,
        schedule: Callable[[float], float] | None = None,
        api: str | None = None,
        changed: threading.Event | None = None,
    ) -> None:
        if poll is None and (last is None or not last.done):
            raise ValueError("a CopyJob needs a poll function unless it is already finished")
        #: CoCalc's id of the copy (``None`` when the server gives none: a synchronous copy,
        #: or a copy through the conat bridge).
        self.copy_path_id = copy_path_id
        #: What was asked for (project ids, paths, options).
        self.request = request
        #: The API generation that started the copy (``"v1"``, ``"v2"`` or ``"conat"``).
        self.api = api
        self.created = time.monotonic()
        #: When the copy was requested (wall clock, this machine's).
        self.requested_at = time.time()
        self._poll = poll
        self._last = last
        self._schedule = schedule or poll_delays()
        # Set when a background copy (conat) ends: waiting needs no polling then.
        self._changed = changed
        #: Status requests this job has sent.
        self.polls = 0

    @property
    def last_status(self) -> CopyStatus | None:
        """The latest status seen, without asking CoCalc."""
        return self._last

    @property
    def background(self) -> bool:
        """Whether the copy runs in a background request of this client (the conat bridge's
        blocking copy), whose end is seen at no cost, rather than on the server by an id."""
        return self._changed is not None

    def seen(self, status: CopyStatus) -> None:
        """Take a status found elsewhere (a search that covered this copy) as the latest."""
        self._last = status

    def status(self) -> CopyStatus:
        """Ask CoCalc for the current status of this copy."""
        if self._poll is None:
            assert self._last is not None
            return self._last
        if self._changed is None:
            self.polls += 1
        self._last = self._poll()
        return self._last

    def _current(self) -> CopyStatus:
        if self._last is not None and self._last.done:
            return self._last
        return self.status()

    @property
    def done(self) -> bool:
        """Has the copy finished? (Asks CoCalc unless already known.)"""
        return self._current().done

    @property
    def ok(self) -> bool:
        """Has the copy finished without error? (Asks CoCalc unless already known.)"""
        return self._current().ok

    @property
    def error(self) -> str | None:
        """CoCalc's error text for a failed copy, else ``None``."""
        return self._current().error

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool | None = None,
        raise_on_error: bool = True,
    ) -> CopyStatus:
        """Wait until the copy finishes; return its final :class:`CopyStatus`.

        Raises :class:`CopyFailed` (with CoCalc's error text) if the copy failed, unless
        ``raise_on_error=False``, :class:`CoCalcTimeout` if it is still running after
        ``timeout`` seconds (the copy itself goes on), and :class:`OutcomeUnknown` if the server
        could not say how it ended. ``progress``: show a progress bar (default: in a notebook,
        once the wait takes more than a second).
        """
        from ._progress import Progress

        start = time.monotonic()
        bar = Progress.maybe(progress, label=self._label(), delay=1.0)
        status = self._last
        try:
            if status is None and self._changed is not None:
                status = self.status()
            while status is None or not status.done:
                elapsed = time.monotonic() - start
                if timeout is not None and elapsed >= timeout and (self.polls or self._changed):
                    state = status.state if status else "pending"
                    raise CoCalcTimeout(
                        f"The copy {self._name()} was still {state} after {timeout:g} s; "
                        "it goes on in CoCalc (call wait() again to keep waiting)",
                        endpoint=self._waited_on(),
                        route=self.api,
                    )
                if self._changed is not None:
                    pause = 0.25 if bar.live else 3600.0
                else:
                    pause = self._schedule(time.monotonic() - self.created)
                if timeout is not None:
                    pause = min(pause, max(0.0, timeout - elapsed))
                bar.update(status.state if status else "pending")
                if self._changed is not None:
                    self._changed.wait(pause)
                else:
                    time.sleep(pause)
                status = self.status()
        finally:
            bar.close(status.state if status is not None else None)
        failure = self.failure()
        if raise_on_error and failure is not None:
            raise failure
        return status

    def failure(self) -> CopyFailed | None:
        """The error of a copy known to have failed, typed by what CoCalc said
        (:class:`CopyRefused`, :class:`CopyNotFound`, ...: a :class:`CopyFailed` in every case),
        else ``None``. Asks CoCalc nothing."""
        status = self._last
        if status is None or not status.done or not status.error:
            return None
        return copy_failure(
            status.error, endpoint=self._waited_on(), route=self.api, copy_status=status
        )

    def _waited_on(self) -> str:
        """The call whose answer a wait ended on: ``copy_path_status`` if this job asked CoCalc
        for the copy's status, else the copy request itself (a background conat copy, or a
        copy that had ended when its request was answered)."""
        return "copy_path_status" if self.polls else "copy_path_between_projects"

    def _name(self) -> str:
        return self.copy_path_id or f"of {self.request.src_path}"

    def _label(self) -> str:
        r = self.request
        return f"{r.src_path} -> {r.target_project_id[:8]}:{r.target}"

    def __repr__(self) -> str:
        state = self._last.state if self._last else "started"
        extra = f", error={self._last.error!r}" if self._last and self._last.error else ""
        return f"<CopyJob {state} {self._label()} id={self.copy_path_id}{extra}>"

    def _repr_html_(self) -> str:
        if self._last is not None:
            return self._last._repr_html_().replace("<b>Copy</b>", "<b>CopyJob</b>", 1)
        label, cid = html.escape(self._label()), html.escape(str(self.copy_path_id))
        return f"<div><b>CopyJob</b> started <code>{label}</code> id={cid}</div>"
