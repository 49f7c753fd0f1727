"""The outcome of a hand-out: one :class:`CopyResult` per target, and :class:`CopyResults`,
their list with the counts and the summary table."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..copyjob import CopyJob, CopyStatus
from ..errors import CoCalcError, OutcomeUnknown
from .tables import PER_PAGE, RowTable, colour

if TYPE_CHECKING:
    from .._progress import Progress
    from .journal import Handout

__all__ = ["BAD", "FINAL", "CopyResult", "CopyResults"]

#: The states after which nothing more happens to a copy, as far as the client can tell.
FINAL = ("done", "failed", "not started", "unknown", "done before")
#: The states of targets that did not get their copy (shown first).
BAD = frozenset({"failed", "not started", "unknown"})


@dataclass
class CopyResult:
    """One target of a fan-out copy: its job (if started), final status, or the error."""

    target_project_id: str
    target_path: str | None
    job: CopyJob | None = None
    #: Why it did not succeed: the error of its request, or, once :func:`wait_all` saw it end
    #: failed, its typed :class:`CopyFailed` (a ``CopyRefused`` is a ``PermissionDenied``, ...).
    error: CoCalcError | None = None
    label: str = ""
    #: An earlier, unfinished run of the same hand-out finished this copy well (from the
    #: journal; nothing was sent this time). A copy that failed then is sent again instead.
    before: bool = False
    #: Where the copy goes in its source's terms: ``(target_project_id, target path)``.
    key: tuple[str, str] = ("", "")
    #: Sent again on resuming an unfinished hand-out because it failed in the earlier run.
    retried: bool = False

    @property
    def status(self) -> CopyStatus | None:
        """The latest known status of the copy (``None`` if it never started)."""
        return self.job.last_status if self.job else None

    @property
    def state(self) -> str:
        """``done``, ``failed``, ``running``, ``pending``, ``scheduled``, ``not started``,
        ``unknown`` (the reply to the copy request was lost: it may or may not have run), or
        ``done before`` (an earlier run of the hand-out finished it well)."""
        if self.before:
            return "done before"
        if self.error is not None and (self.status is None or not self.status.done):
            # A lost reply to the copy request: the copy may have run, so it is not "not started".
            started = self.job is not None or isinstance(self.error, OutcomeUnknown)
            return "unknown" if started else "not started"
        return self.status.state if self.status else "pending"

    @property
    def finished(self) -> bool:
        """Nothing more will happen to this target's copy as far as the client can tell: it
        finished (well or not), could not start, or its outcome is unknown."""
        return self.state in FINAL

    @property
    def ok(self) -> bool:
        """The copy finished without error (in this run or an earlier one)."""
        if self.before:
            return True
        return self.error is None and self.status is not None and self.status.ok

    @property
    def reason(self) -> str:
        """Why it failed (CoCalc's text), or ``""``."""
        if self.status is not None and self.status.error:
            return self.status.error
        return str(self.error) if self.error else ""


class CopyResults(RowTable):
    """A list of :class:`CopyResult`, one per target, with the counts (:meth:`summary`) and a
    table of them, failures first (:meth:`table`, :meth:`table_html`; ``%cocalc_copy`` shows it).
    """

    bad = BAD

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # The hand-out's journal entry (copy_to_many), and the results already written to it.
        self._handout: Handout | None = None
        self._recorded: set[int] = set()
        self._bar: Progress | None = None  # copy_to_many's progress bar, for wait_all to go on
        #: One line on how this run relates to an earlier run of the same hand-out (a new
        #: hand-out after a finished one, or a resumed unfinished one), or ``None``.
        self.notice: str | None = None

    def row_state(self, row: Any) -> str:
        return str(row.state)

    def end_progress(self) -> None:
        """End the hand-out's progress bar with the counts: for a hand-out sent and not waited
        for (the bar turns amber); :func:`wait_all` ends it by itself."""
        if self._bar is not None:
            self._bar.close(None, self.summary())

    @property
    def jobs(self) -> list[CopyJob]:
        """The jobs that started."""
        return [r.job for r in self if r.job is not None]

    @property
    def failed(self) -> list[CopyResult]:
        """The targets that failed (now or before), could not start, or whose outcome is
        unknown."""
        return [r for r in self if r.state in BAD]

    def summary(self) -> str:
        """One line: how many copies are done, failed, still running (and retried)."""
        text = ", ".join(f"{n} {state}" for state, n in sorted(self.counts().items()))
        retried = sum(r.retried for r in self)
        return f"{text} ({retried} retried)" if retried else text

    def __repr__(self) -> str:
        return f"<CopyResults: {self.summary()}>"

    def table(self, page: int = 1, per_page: int = PER_PAGE) -> str:
        """A plain-text table: the counts, then one line per target with CoCalc's reason,
        failures first, ``per_page`` lines a page."""
        rows, page, pages = self.page(page, per_page)
        lines = [f"Copies: {self.summary()}"] + ([f"  {self.notice}"] if self.notice else [])
        lines += [
            # A reason on one line (rsync's errors come in several), so the columns stay.
            f"  {r.state:<13} {r.label}"
            + (" (retried)" if r.retried else "")
            + (f"  ({' '.join(r.reason.split())})" if r.reason else "")
            for r in rows
        ]
        return "\n".join(lines + self.more(page, pages))

    def table_html(self, page: int = 1, per_page: int = PER_PAGE) -> str:
        """The same table in HTML, for notebooks."""
        rows, page, pages = self.page(page, per_page)
        body = "".join(
            "<tr>"
            f"<td style='text-align:left'>{html.escape(r.label)}"
            f"{' (retried)' if r.retried else ''}</td>"
            f"<td style='text-align:left;color:{colour(r.state)}'>{r.state}</td>"
            f"<td style='text-align:left'>{html.escape(r.reason)}</td>"
            "</tr>"
            for r in rows
        )
        notice = f"<div>{html.escape(self.notice)}</div>" if self.notice else ""
        return (
            f"<div><b>Copies</b>: {html.escape(self.summary())}{notice}"
            "<table><tr><th style='text-align:left'>target</th><th>state</th>"
            f"<th style='text-align:left'>reason</th></tr>{body}</table>"
            f"{''.join(self.more(page, pages, html=True))}</div>"
        )
