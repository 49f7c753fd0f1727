"""Copying one path to many projects: start every copy (a bounded number of requests in
flight), then watch them all together, so that a hundred targets cost about as much as the
server's latency allows, not a hundred times one copy."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._progress import Progress
from .._validate import short
from ..errors import (
    BadInput,
    CoCalcConnectionError,
    CoCalcError,
    CoCalcTimeout,
    OutcomeUnknown,
    RateLimited,
    ServerError,
)
from . import _resume, _search
from .results import BAD, CopyResult, CopyResults

if TYPE_CHECKING:
    from ..client import CoCalcClient
    from .journal import Journal

__all__ = ["CopyResult", "CopyResults", "copy_to_many", "wait_all"]


def copy_to_many(
    client: CoCalcClient,
    src_project_id: str,
    src_path: str,
    targets: Iterable[str | tuple[str, str | None]],
    *,
    max_in_flight: int = 16,
    labels: Sequence[str] | None = None,
    journal: str | os.PathLike[str] | bool | Journal | None = None,
    fresh: bool = False,
    resend_unknown: bool = False,
    progress: bool | None = None,
    **options: Any,
) -> CopyResults:
    """Start a copy of ``src_path`` to every target: a project id (the copy keeps
    ``src_path``) or a ``(target_project_id, target_path)`` pair.

    At most ``max_in_flight`` requests are sent at once. A target whose copy cannot start
    keeps its error in its :class:`CopyResult`; it never hides the others. Bad targets
    (another shape, duplicates) or options raise :class:`BadInput` before anything is sent.

    Every hand-out is written to a journal (``journal``: a path; default
    ``.cocalc-widgets/journal.sqlite`` here, see :mod:`cocalc_widgets.handout.journal`;
    ``False``: none).
    Running the same hand-out again (same source, path, targets and options):

    - after it finished (every copy ended), starts a new hand-out: every copy is sent again,
      since the source may have changed; ``results.notice`` says when the last one finished;
    - while it is unfinished (its process died, or it was not waited for), resumes it: copies
      that finished well are ``done before`` and not sent again, copies with an id are watched,
      failed copies are sent again (``retried``: the cause may have been fixed), and copies whose
      send was in flight when a run stopped are looked up (API v1) or reported as ``unknown``
      (``resend_unknown=True`` sends them again);
    - ``fresh=True`` starts it over in any case. A second process running the same hand-out at
      the same time gets a :class:`JournalError` and sends nothing.

    ``progress``: one progress bar for the whole hand-out (default: in a notebook), which
    :func:`wait_all` goes on with; its text shows the copies sent and, once the server has
    pushed back (HTTP 429), the rate the client holds itself to.
    """
    items = _targets(targets)
    if labels is not None and len(labels) != len(items):
        raise BadInput(f"labels has {len(labels)} entries for {len(items)} targets")
    requests = [
        client.copies.request(src_project_id, src_path, pid, path, **options) for pid, path in items
    ]
    keys = [(r.target_project_id, r.target) for r in requests]
    _refuse_duplicates(keys)
    if requests:
        src_project_id, src_path = requests[0].src_project_id, requests[0].src_path
    results = CopyResults(
        CopyResult(pid, path, label=labels[i] if labels else f"{pid}:{path or src_path}", key=key)
        for i, ((pid, path), key) in enumerate(zip(items, keys, strict=True))
    )
    request_of = {id(r): req for r, req in zip(results, requests, strict=True)}
    # Once, before the threads start: the generation a fan-out's copies go to (copies with
    # options it lacks may go elsewhere).
    client.copies.check_many()
    handout = _resume.open_handout(
        client, journal, src_project_id, src_path, keys, _journal_options(options), fresh
    )
    results._handout = handout
    try:
        rows = handout.rows() if handout else {}
        ended = _resume.finished_at(rows)
        targets = f"{len(results)} project{'s' if len(results) != 1 else ''}"
        if handout is not None and ended is not None:  # finished: this is a new hand-out
            handout.restart()
            rows = {}
            results.notice = (
                f"The last hand-out of {src_path} to these {targets} finished "
                f"{_resume.ago(ended)}; copying again"
            )
        todo = _resume.plan(list(results), rows)
        if any(row.state != "planned" for row in rows.values()):
            results.notice = (
                f"Resumed an unfinished hand-out of {src_path} to these {targets} "
                f"({len(todo.before)} done before, {len(todo.watch) + len(todo.lost)} "
                f"watched, {len(todo.retry)} failed copies sent again); fresh=True "
                "(%cocalc_copy --fresh) starts it over"
            )
        for result in todo.retry:
            result.retried = True
        for result, _row in todo.before:
            result.before = True
        claimed = {row.copy_id for _, row in todo.watch if row.copy_id}
        for result, row in todo.watch:
            assert row.copy_id is not None
            result.job = client.copies.watch(
                row.copy_id, request_of[id(result)], row.api, requested_at=row.sent_at
            )
        send = list(todo.send)
        if todo.lost:
            found = _resume.find_lost(client, src_project_id, src_path, todo.lost, claimed)
            for result, row in todo.lost:
                status = None if found is None else found.get(result.key)
                if status is not None and status.copy_path_id:
                    result.job = client.copies.watch(
                        status.copy_path_id, request_of[id(result)], "v1", requested_at=row.sent_at
                    )
                    result.job.seen(status)
                    handout.record(  # type: ignore[union-attr]
                        result.key, "sent", copy_id=status.copy_path_id, api="v1"
                    )
                elif found is not None or resend_unknown:
                    send.append(result)  # CoCalc never got it (v1), or asked to resend
                else:
                    result.error = _resume.unknown_error(row, can_resend=True)

        bar = Progress.maybe(
            progress,
            f"copying {src_path} to {len(results)} project{'s' if len(results) != 1 else ''}",
            total=len(results),
            delay=0.5,
            info=_rate_info(client),
        )
        results._bar = bar
        ahead = len(results) - len(send)  # done before, being watched, or not sendable
        sent = [0]
        count = threading.Lock()

        def start(result: CopyResult) -> None:
            if bar.live:
                with count:
                    sent[0] += 1
                    bar.update(f"sending {sent[0] + ahead}/{len(results)}", done=len(todo.before))
            if handout is not None:
                handout.record(result.key, "sending", sent_at=time.time())
            try:
                result.job = client.copies.start(request_of[id(result)], many=True)
            except CoCalcError as err:
                result.error = err
            if handout is not None:
                state, fields = _resume.started(result)
                handout.record(result.key, state, **fields)
                if state not in ("sending", "sent"):
                    results._recorded.add(id(result))  # ended already: nothing left to record

        if send:
            with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, len(send)))) as pool:
                list(pool.map(start, send))
    finally:
        if handout is not None:
            handout.release()
    return results


def _rate_info(client: CoCalcClient) -> Callable[[], str] | None:
    """For the progress bar: the rate the client holds itself to (see ``_pacing``)."""
    copies = getattr(client, "copies", None)  # a stand-in client in tests may have none
    return copies.pacer.describe if copies is not None else None


def _journal_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that make a hand-out what it is (``wait_until_done`` does not)."""
    return {k: v for k, v in options.items() if k != "wait_until_done" and v not in (None, False)}


def _refuse_duplicates(keys: list[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    dupes = []
    for key in keys:
        if key in seen and key not in dupes:
            dupes.append(key)
        seen.add(key)
    if dupes:
        shown = ", ".join(f"{pid}:{path}" for pid, path in dupes[:5])
        more = f" and {len(dupes) - 5} more" if len(dupes) > 5 else ""
        raise BadInput(f"the targets name the same place twice: {shown}{more}")


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
    if not items:
        raise BadInput(
            "targets is empty: give at least one project id or (project_id, path) pair "
            "(nothing was sent)"
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
    if not isinstance(results, CopyResults) or not hasattr(results, "_recorded"):
        results = CopyResults(results)
    bar = getattr(results, "_bar", None)  # copy_to_many's, so one bar shows the whole hand-out
    if bar is None or bar.closed or (progress is not None and bar.live != bool(progress)):
        if bar is not None:
            bar.close(None)  # asked for none (or for one) this time: the send's bar ends here
        bar = Progress.maybe(
            progress, label, total=len(results), delay=0.5, info=_rate_info(client)
        )

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
                _resume.record_finals(results._handout, results, results._recorded)
    finally:
        for result in results:  # a copy that ended failed: its error, typed by CoCalc's text
            if result.error is None and result.job is not None:
                result.error = result.job.failure()
        _resume.record_finals(getattr(results, "_handout", None), results, results._recorded)
        failed = any(r.state in BAD for r in results)
        bar.close("failed" if failed else "done", results.summary())
    return results


_PROBES = 4  # copies polled while none has finished (API v2)
_FULL_ROUND_MIN = 2.0  # seconds: while probing, every copy is still polled at least this often
_LOCAL_PAUSE = 0.05  # seconds between looks at copies that need no request (conat)


def _local(result: CopyResult) -> bool:
    return result.job is not None and result.job.api == "conat"


def _finished(result: CopyResult) -> bool:
    status = result.status
    return status is not None and status.done


def _sweep(client: CoCalcClient, src: str, group: list[CopyResult]) -> list[CopyResult]:
    """Update ``group`` (v1 copies from ``src``) from CoCalc's search of finished copies, paged
    (newest first) until the pages are older than the oldest copy asked about; returns those
    that still need a request of their own (only when the search failed or ran out)."""
    oldest = min(r.job.requested_at for r in group) + client.clock_skew - 5  # type: ignore[union-attr]
    wanted = {r.job.copy_path_id: r for r in group}  # type: ignore[union-attr]
    try:
        for page in _search.pages(client, oldest, src_project_id=src, pending=False):
            for status in page:
                result = wanted.pop(status.copy_path_id, None)
                if result is not None:
                    result.job.seen(status)  # type: ignore[union-attr]
            if not wanted:
                break
    except (CoCalcError, _search.RanOut):
        return list(wanted.values())
    # The pages reached back before our copies: the ones not seen have not finished.
    return []


def _poll_round(client: CoCalcClient, todo: list[CopyResult], pool: ThreadPoolExecutor) -> None:
    """One status round for every unfinished copy, as few requests as the API allows."""
    searchable = [r for r in todo if r.job is not None and r.job.api == "v1"]
    singles = [r for r in todo if r.job is None or r.job.api != "v1"]
    if len(searchable) <= 2:
        singles, searchable = list(todo), []
    if searchable:
        by_src: dict[str, list[CopyResult]] = {}
        for r in searchable:
            by_src.setdefault(r.job.request.src_project_id, []).append(r)  # type: ignore[union-attr]
        for src, group in by_src.items():
            singles.extend(_sweep(client, src, group))

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
