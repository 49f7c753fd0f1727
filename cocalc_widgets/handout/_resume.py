"""How a fan-out uses its journal: what an earlier run of the same hand-out left, what to send,
what to watch, and how to find copies whose send was in flight when that run stopped.

A hand-out that finished (every target's copy ended with a known outcome: done, failed, or not
started) is finished: running it again starts a new hand-out (the file may have changed since:
a new version is what the user wants). Only an unfinished one resumes: its process died, it
was sent without waiting (``--no-wait``), or a copy's outcome is unknown; one still running
elsewhere holds its lock. On resume, a target's journal row decides:

- none, ``planned``, ``not started``: send it;
- ``failed``: send it again (CoCalc's copy failed: the user may have fixed the cause); the
  summary says it was retried;
- ``done``: report it as done before, send nothing;
- ``sent`` (a copy id): watch it;
- ``sending`` / ``unknown`` (the request may have reached CoCalc): on a server with API v1's
  search, look for it (after a short grace period, so that a copy the server was still
  receiving shows up): watch it if found, send it if CoCalc never got it. Without a search
  (API v2, conat) it is reported as outcome unknown; only ``resend_unknown=True`` sends it again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..copyjob import CopyStatus
from ..errors import BadInput, CoCalcError, OutcomeUnknown
from . import _search
from .journal import Handout, Journal, JournalRow, handout_key

if TYPE_CHECKING:
    from ..client import CoCalcClient
    from .results import CopyResult

#: Seconds after the lost send before the search can be trusted to show the copy.
GRACE = 5.0


#: Journal states in which a target's copy has ended with a known outcome.
FINAL = frozenset({"done", "failed", "not started"})


def finished_at(rows: dict[tuple[str, str], JournalRow]) -> float | None:
    """When the hand-out whose rows these are finished (every copy ended), else ``None``."""
    if not rows or any(row.state not in FINAL for row in rows.values()):
        return None
    stamps = [t for row in rows.values() for t in (row.finished_at, row.sent_at) if t]
    return max(stamps) if stamps else 0.0


def ago(then: float, now: float | None = None) -> str:
    """``"5 minutes ago"``: how long since ``then`` (seconds since the epoch), in words."""
    seconds = max(0.0, (time.time() if now is None else now) - then)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "moments ago"


@dataclass
class Plan:
    """What to do with each target of a hand-out."""

    send: list[CopyResult] = field(default_factory=list)
    #: Targets whose copy failed in the earlier run, sent again (also in ``send``).
    retry: list[CopyResult] = field(default_factory=list)
    watch: list[tuple[CopyResult, JournalRow]] = field(default_factory=list)
    lost: list[tuple[CopyResult, JournalRow]] = field(default_factory=list)
    before: list[tuple[CopyResult, JournalRow]] = field(default_factory=list)


def open_handout(
    client: CoCalcClient,
    journal: Any,
    src_project_id: str,
    src_path: str,
    keys: list[tuple[str, str]],
    options: dict[str, Any],
    fresh: bool,
) -> Handout | None:
    """The hand-out's journal entry, locked for this run (``None`` with ``journal=False``)."""
    if journal is False:
        return None
    if journal is None or journal is True:
        store = Journal()
    elif isinstance(journal, Journal):
        store = journal
    else:
        store = Journal(journal)
    key = handout_key(client.host, src_project_id, src_path, keys, options)
    return store.open_handout(
        key,
        host=client.host,
        src_project_id=src_project_id,
        src_path=src_path,
        options=options,
        targets=keys,
        fresh=fresh,
    )


def plan(results: list[CopyResult], rows: dict[tuple[str, str], JournalRow]) -> Plan:
    """Sort the targets by what their journal rows say."""
    out = Plan()
    for result in results:
        row = rows.get(result.key)
        if row is None or row.state in ("planned", "not started"):
            out.send.append(result)
        elif row.state == "failed":  # a final failure: the user may have fixed its cause
            out.send.append(result)
            out.retry.append(result)
        elif row.state == "done":
            out.before.append((result, row))
        elif row.state == "sent" and row.copy_id:
            out.watch.append((result, row))
        else:  # sending, unknown: the request may have reached CoCalc
            out.lost.append((result, row))
    return out


def find_lost(
    client: CoCalcClient,
    src_project_id: str,
    src_path: str,
    lost: list[tuple[CopyResult, JournalRow]],
    claimed: set[str],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[tuple[str, str], CopyStatus] | None:
    """The copies CoCalc started for ``lost`` targets, by target (API v1's search, paged);
    ``None`` when the server has no search. Targets not in the answer never reached CoCalc."""
    sent = [row.sent_at for _, row in lost if row.sent_at is not None]
    if sent:
        wait = max(sent) + GRACE - time.time()
        if wait > 0:
            sleep(wait)
    since = (min(sent) if sent else 0.0) + client.clock_skew - 2.0
    wanted = {result.key: row for result, row in lost}
    found: dict[tuple[str, str], CopyStatus] = {}
    try:
        for pending in (True, False):  # CoCalc's search gives one or the other
            filters = {"src_project_id": src_project_id, "src_path": src_path, "pending": pending}
            with contextlib.suppress(_search.RanOut):  # as far back as CoCalc lets us look
                for page in _search.pages(client, since, **filters):
                    for status in page:
                        _match(status, src_path, wanted, claimed, found, client.clock_skew)
    except BadInput:
        return None  # no search on this server (API v2, conat)
    return found


def _match(
    status: CopyStatus,
    src_path: str,
    wanted: dict[tuple[str, str], JournalRow],
    claimed: set[str],
    found: dict[tuple[str, str], CopyStatus],
    skew: float,
) -> None:
    key = (status.target_project_id or "", status.target_path or status.source_path or src_path)
    row = wanted.get(key)
    if row is None or not status.copy_path_id or status.copy_path_id in claimed:
        return
    too_early = (
        row.sent_at is not None
        and status.time is not None
        and status.time.timestamp() < row.sent_at + skew - 2.0
    )
    if too_early:
        return  # an earlier copy to the same place, not this send
    best = found.get(key)
    if best is None or (status.time and best.time and status.time < best.time):
        found[key] = status  # the first copy after the send is this send's


def unknown_error(row: JournalRow, can_resend: bool) -> OutcomeUnknown:
    """Why a target whose earlier send was in flight is not sent again."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.sent_at or time.time()))
    how = (
        "pass resend_unknown=True (%cocalc_copy --resend-unknown) to send it again"
        if can_resend
        else "look at the target"
    )
    return OutcomeUnknown(
        f"An earlier run of this hand-out sent this copy at {when} and stopped before CoCalc "
        "answered; this server cannot search copies, so nobody can tell whether it ran. It is "
        f"not sent again: {how}",
        endpoint="copy_path_between_projects",
    )


def outcome(result: CopyResult) -> tuple[str, dict[str, Any]] | None:
    """The journal state a result ended in (``None`` while it is still running)."""
    state = result.state
    now = time.time()
    if state == "done":
        return "done", {"finished_at": now, "error": None}
    if state == "failed":
        return "failed", {"finished_at": now, "error": result.reason[:2000]}
    if state == "unknown":
        return "unknown", {"error": result.reason[:2000]}
    if state == "not started":
        return "not started", {"error": result.reason[:2000]}
    return None


def started(result: CopyResult) -> tuple[str, dict[str, Any]]:
    """The journal state right after a send returned."""
    job = result.job
    if result.error is not None:
        if isinstance(result.error, OutcomeUnknown):
            return "unknown", {"error": str(result.error)[:2000]}
        return "not started", {"error": str(result.error)[:2000]}
    assert job is not None
    if job.copy_path_id:
        return "sent", {"copy_id": job.copy_path_id, "api": job.api}
    done = outcome(result)
    if done is not None:
        return done[0], {**done[1], "api": job.api}
    return "sending", {"api": job.api}  # a background (conat) copy: its end is recorded later


def record_finals(handout: Handout | None, results: list[CopyResult], recorded: set[int]) -> None:
    """Write the final state of every result that ended since the last call."""
    if handout is None:
        return
    changes = []
    for result in results:
        if id(result) in recorded or result.before:
            continue
        end = outcome(result)
        if end is not None:
            changes.append((result.key, end[0], end[1]))
            recorded.add(id(result))
    # The copies are done whatever the journal says; if it cannot be written, the next run
    # watches them by id again.
    with contextlib.suppress(CoCalcError):
        handout.record_many(changes)
