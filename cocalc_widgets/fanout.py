"""Copying one path to many projects: start every copy (a bounded number of requests in
flight), then watch them all together, so that a hundred targets cost about as much as the
server's latency allows, not a hundred times one copy."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._progress import Progress
from ._validate import short
from .copyjob import CopyJob, CopyStatus
from .errors import (
    BadInput,
    CoCalcConnectionError,
    CoCalcError,
    CoCalcTimeout,
    OutcomeUnknown,
    RateLimited,
    ServerError,
)

if TYPE_CHECKING:
    from .client import CoCalcClient

__all__ = ["CopyResult", "CopyResults", "copy_to_many", "wait_all"]


@dataclass
class CopyResult:
    """One target of a fan-out copy: its job (if started), final status, or the error."""

    target_project_id: str
    target_path: str | None
    job: CopyJob | None = None
    error: CoCalcError | None = None
    label: str = ""

    @property
    def status(self) -> CopyStatus | None:
        """The latest known status of the copy (``None`` if it never started)."""
        return self.job.last_status if self.job else None

    @property
    def state(self) -> str:
        """``done``, ``failed``, ``running``, ``pending``, ``scheduled``, ``not started`` or
        ``unknown`` (the reply to the copy request was lost: it may or may not have run)."""
        if self.error is not None and (self.status is None or not self.status.done):
            # A lost reply to the copy request: the copy may have run, so it is not "not started".
            started = self.job is not None or isinstance(self.error, OutcomeUnknown)
            return "unknown" if started else "not started"
        return self.status.state if self.status else "pending"

    @property
    def finished(self) -> bool:
        """Nothing more will happen to this target's copy as far as the client can tell: it
        finished (well or not), could not start, or its outcome is unknown."""
        return self.state in ("done", "failed", "not started", "unknown")

    @property
    def ok(self) -> bool:
        """The copy finished without error."""
        return self.error is None and self.status is not None and self.status.ok

    @property
    def reason(self) -> str:
        """Why it failed (CoCalc's text), or ``""``."""
        if self.status is not None and self.status.error:
            return self.status.error
        return str(self.error) if self.error else ""


class CopyResults(list):
    """A list of :class:`CopyResult` with a summary table as its notebook display."""

    @property
    def jobs(self) -> list[CopyJob]:
        """The jobs that started."""
        return [r.job for r in self if r.job is not None]

    @property
    def failed(self) -> list[CopyResult]:
        """The targets that failed, could not start, or whose outcome is unknown."""
        return [r for r in self if r.state in ("failed", "not started", "unknown")]

    def summary(self) -> str:
        """One line: how many copies are done, failed, still running."""
        counts: dict[str, int] = {}
        for r in self:
            counts[r.state] = counts.get(r.state, 0) + 1
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))

    def __repr__(self) -> str:
        return f"<CopyResults: {self.summary()}>"

    def table(self) -> str:
        """A plain-text table: one line per target, with CoCalc's reason for failures."""
        lines = [f"Copies: {self.summary()}"]
        lines += [
            f"  {r.state:<11} {r.label}" + (f"  ({r.reason})" if r.reason else "") for r in self
        ]
        return "\n".join(lines)

    def table_html(self) -> str:
        """The same table in HTML, for notebooks."""
        colors = {"done": "#2a7", "failed": "#c33", "not started": "#c33", "unknown": "#c80"}
        rows = "".join(
            "<tr>"
            f"<td style='text-align:left'>{html.escape(r.label)}</td>"
            f"<td style='text-align:left;color:{colors.get(r.state, '#888')}'>{r.state}</td>"
            f"<td style='text-align:left'>{html.escape(r.reason)}</td>"
            "</tr>"
            for r in self
        )
        return (
            f"<div><b>Copies</b>: {html.escape(self.summary())}"
            "<table><tr><th style='text-align:left'>target</th><th>state</th>"
            f"<th style='text-align:left'>reason</th></tr>{rows}</table></div>"
        )


def copy_to_many(
    client: CoCalcClient,
    src_project_id: str,
    src_path: str,
    targets: Iterable[str | tuple[str, str | None]],
    *,
    max_in_flight: int = 16,
    labels: Sequence[str] | None = None,
    **options: Any,
) -> CopyResults:
    """Start a copy of ``src_path`` to every target: a project id (the copy keeps
    ``src_path``) or a ``(target_project_id, target_path)`` pair.

    At most ``max_in_flight`` requests are sent at once. A target whose copy cannot start
    keeps its error in its :class:`CopyResult`; it never hides the others. Targets of another
    shape raise :class:`BadInput` before anything is sent.
    """
    items = _targets(targets)
    if labels is not None and len(labels) != len(items):
        raise BadInput(f"labels has {len(labels)} entries for {len(items)} targets")
    results = CopyResults(
        CopyResult(pid, path, label=labels[i] if labels else f"{pid}:{path or src_path}")
        for i, (pid, path) in enumerate(items)
    )
    if not results:
        return results

    def start(result: CopyResult) -> None:
        try:
            result.job = client.copy_path_between_projects(
                src_project_id, src_path, result.target_project_id, result.target_path, **options
            )
        except CoCalcError as err:
            result.error = err

    client.detect_api()  # once, before the threads start (copies with options may go elsewhere)
    with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, len(results)))) as pool:
        list(pool.map(start, results))
    return results


def _targets(targets: object) -> list[tuple[str, str | None]]:
    """``(project_id, path)`` pairs from project ids and pairs; :class:`BadInput` otherwise."""
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Iterable):
        raise BadInput(
            "targets must be a list of project ids or (project_id, path) pairs, "
            f"got {short(targets)}"
        )
    items: list[tuple[str, str | None]] = []
    for target in targets:
        if isinstance(target, str):
            items.append((target, None))
        elif (
            isinstance(target, (tuple, list))
            and len(target) == 2
            and isinstance(target[0], str)
            and (target[1] is None or isinstance(target[1], str))
        ):
            items.append((target[0], target[1]))
        else:
            raise BadInput(
                "each target must be a project id or a (project_id, path) pair, "
                f"got {short(target)}"
            )
    return items


def wait_all(
    client: CoCalcClient,
    results: CopyResults,
    *,
    timeout: float | None = None,
    progress: bool | None = None,
    max_in_flight: int = 16,
    label: str = "copying",
) -> CopyResults:
    """Poll every started copy until all are finished (or ``timeout`` seconds pass).

    Copies started on API v1: one search request per source project covers all of them. On
    API v2 (one copy per request) the few oldest copies are polled as probes until one of them
    has finished, and then every copy is polled, ``max_in_flight`` at a time; a full round also
    comes at least every half of the time waited, so a slow probe delays nobody for long.
    Copies through the conat bridge run in the background and cost no request to watch.
    Failures stay in the results.
    """
    start = time.monotonic()
    last_full = start
    probing = any(r.job is not None and r.job.api == "v2" for r in results)
    bar = Progress.maybe(progress, label, total=len(results), delay=0.5)

    def pending() -> list[CopyResult]:
        return [r for r in results if r.job is not None and r.error is None and not _finished(r)]

    try:
        with ThreadPoolExecutor(max_workers=max(1, max_in_flight)) as pool:
            todo = pending()
            while todo:
                elapsed = time.monotonic() - start
                if timeout is not None and elapsed >= timeout:
                    break
                bar.update("waiting", done=len(results) - len(todo))
                pause = client.poll_schedule(elapsed)
                if all(_local(r) for r in todo):
                    pause = min(pause, _LOCAL_PAUSE)  # watching background copies is free
                if timeout is not None:
                    pause = min(pause, max(0.0, timeout - elapsed))
                time.sleep(pause)
                now = time.monotonic()
                if probing and now - last_full < max(_FULL_ROUND_MIN, 0.5 * (now - start)):
                    batch = todo[:_PROBES]  # the oldest copies: the first to finish
                else:
                    batch, last_full = todo, now
                _poll_round(client, batch, pool)
                if probing and any(_finished(r) for r in batch):
                    probing = False  # copies are finishing: poll them all from now on
                todo = pending()
    finally:
        failed = any(r.state in ("failed", "not started", "unknown") for r in results)
        bar.close("failed" if failed else "done")
    return results


_PAGE = 1000  # CoCalc's maximum ``limit`` for a copy_path_status search
_PROBES = 4  # copies polled while none has finished (API v2)
_FULL_ROUND_MIN = 2.0  # seconds: while probing, every copy is still polled at least this often
_LOCAL_PAUSE = 0.05  # seconds between looks at copies that need no request (conat)


def _local(result: CopyResult) -> bool:
    return result.job is not None and result.job.api == "conat"


def _finished(result: CopyResult) -> bool:
    status = result.status
    return status is not None and status.done


def _poll_round(client: CoCalcClient, todo: list[CopyResult], pool: ThreadPoolExecutor) -> None:
    """One status round for every unfinished copy, as few requests as the API allows."""
    searchable = [r for r in todo if r.job is not None and r.job.api == "v1"]
    singles = [r for r in todo if r not in searchable]
    if len(searchable) <= 2:
        singles, searchable = list(todo), []
    if searchable:
        by_src: dict[str, list[CopyResult]] = {}
        for r in searchable:
            by_src.setdefault(r.job.request["src_project_id"], []).append(r)  # type: ignore[union-attr]
        for src, group in by_src.items():
            try:  # the finished copies from this project, newest first
                page = client.copy_path_status(src_project_id=src, pending=False, limit=_PAGE)
            except CoCalcError:
                singles.extend(group)
                continue
            found = page if isinstance(page, list) else [page]
            seen = {s.copy_path_id: s for s in found}
            # The page is newest first: a copy of ours that is not in it has not finished,
            # unless the page is full and ends with copies newer than ours.
            times = [s.time.timestamp() for s in found if s.time is not None]
            horizon = None
            if len(found) >= _PAGE:
                horizon = min(times) if times else float("inf")
            for r in group:
                job = r.job
                status = seen.get(job.copy_path_id)  # type: ignore[union-attr]
                if status is not None:
                    job._last = status  # type: ignore[union-attr]
                elif horizon is not None and horizon > job.requested_at + client.clock_skew - 5:  # type: ignore[union-attr]
                    singles.append(r)  # it may be further down the list: ask for it alone

    def one(result: CopyResult) -> None:
        try:
            result.job.status()  # type: ignore[union-attr]
        except OutcomeUnknown as err:  # the server cannot say how it ended
            result.error = err
        except (ServerError, CoCalcConnectionError, CoCalcTimeout, RateLimited):
            pass  # transient: asked again next round
        except CoCalcError as err:
            result.error = err

    list(pool.map(one, singles))
