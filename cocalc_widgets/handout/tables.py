"""The tables that show copies (a hand-out's results, a copy search, the journal's hand-outs):
one way to count rows by state, put failures first, page them and colour their states, in
text and in HTML."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from .._validate import short
from ..copyjob import CopyStatus
from ..errors import BadInput
from .journal import JournalRow

__all__ = ["PER_PAGE", "CopyStatusTable", "HandoutTable", "RowTable", "colour", "titles"]

#: Rows a page of a table shows by default.
PER_PAGE = 50
_COLOURS = {"done": "#2a7", "done before": "#2a7", "unknown": "#c80"}
_COLOURS.update({state: "#c33" for state in ("failed", "not started")})


def colour(state: str) -> str:
    """A state's colour in an HTML table: green done, red failed or refused, amber unknown,
    grey still going."""
    return _COLOURS.get(state, "#888")


class RowTable(list[Any]):
    """A list of rows, each in a state: the counts, the rows failures first, and pages.
    Subclasses say a row's state (:meth:`row_state`) and which states are failures (``bad``)."""

    #: The states shown first.
    bad: ClassVar[frozenset[str]] = frozenset()

    def row_state(self, row: Any) -> str:
        """The state of one row."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """How many rows are in each state."""
        counts: dict[str, int] = {}
        for row in self:
            state = self.row_state(row)
            counts[state] = counts.get(state, 0) + 1
        return counts

    def ordered(self) -> list[Any]:
        """Failures first (in their order), then the rest."""
        bad = [row for row in self if self.row_state(row) in self.bad]
        return bad + [row for row in self if self.row_state(row) not in self.bad]

    def page(self, page: int, per_page: int) -> tuple[list[Any], int, int]:
        """The rows of ``page`` (failures first), that page (the last one if past it) and the
        number of pages; :class:`BadInput` for a page or size that is not a positive integer."""
        for name, value in (("page", page), ("per_page", per_page)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadInput(f"{name} must be a positive integer, got {short(value)}")
        pages = max(1, -(-len(self) // per_page))
        page = min(page, pages)
        return self.ordered()[(page - 1) * per_page : page * per_page], page, pages

    @staticmethod
    def more(page: int, pages: int, *, html: bool = False) -> list[str]:
        """The line that says how to see the next page (none for a single page)."""
        if pages <= 1:
            return []
        following = min(page + 1, pages)
        if html:
            return [
                f"<div>page {page} of {pages} (failures first): "
                f"<code>.table_html(page={following})</code></div>"
            ]
        return [f"  page {page} of {pages}: .table(page={following})"]


def titles(projects: Iterable[dict[str, Any]]) -> dict[str, str]:
    """``{project_id: label}`` from a project listing: the title on one line, with the id's
    first 8 characters when several projects share it; no entry for an untitled project."""
    named: dict[str, str] = {}
    for p in projects:
        pid, title = p.get("project_id"), p.get("title")
        if isinstance(pid, str) and isinstance(title, str) and title.strip():
            named[pid.lower()] = " ".join(title.split())
    seen: dict[str, int] = {}
    for title in named.values():
        seen[title] = seen.get(title, 0) + 1
    return {
        pid: title if seen[title] == 1 else f"{title} ({pid[:8]})" for pid, title in named.items()
    }


def _when(moment: datetime | None) -> str:
    """A time in the kernel's time zone, to the second (``""`` if none)."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class CopyStatusTable(RowTable):
    """What a ``%cocalc_copy_status`` search returns: the :class:`CopyStatus` objects it found
    (a ``list``, in CoCalc's order), shown as a table: failures first, project titles where
    known (else ids), state, start and finish times (in the kernel's time zone) and CoCalc's
    error text. HTML in notebooks; ``repr`` is the same table as text. ``table(page=2)`` and
    ``table_html(page=2)`` show further pages of a long result."""

    def __init__(
        self,
        statuses: Iterable[CopyStatus] = (),
        titles: Mapping[str, str] | None = None,
        what: str = "Copies",
    ) -> None:
        super().__init__(statuses)
        #: ``{project_id: title}`` of the projects known by title.
        self.titles = dict(titles or {})
        #: What was searched, e.g. ``"Copies from Instructor"``.
        self.what = what

    def project(self, project_id: str | None) -> str:
        """A project's title, or its id where the title is not known."""
        if not project_id:
            return "?"
        return self.titles.get(project_id.lower(), project_id)

    bad = frozenset({"failed"})

    def row_state(self, row: Any) -> str:
        return str(row.state)

    @property
    def failed(self) -> list[CopyStatus]:
        """The copies that finished with an error."""
        return [s for s in self if s.state == "failed"]

    def summary(self) -> str:
        """One line: how many copies are in each state, failures first (``"none"`` if none)."""
        counts = sorted(self.counts().items(), key=lambda item: (item[0] != "failed", item[0]))
        return ", ".join(f"{n} {state}" for state, n in counts) or "none"

    def _source(self, s: CopyStatus) -> str:
        return f"{self.project(s.source_project_id)}:{s.source_path or '?'}"

    def _target(self, s: CopyStatus) -> str:
        path = s.target_path or s.source_path or "?"
        return f"{self.project(s.target_project_id)}:{path}"

    @staticmethod
    def _started(s: CopyStatus) -> str:
        if s.started is None and s.scheduled is not None:
            return f"scheduled {_when(s.scheduled)}"
        return _when(s.started)

    def table(self, page: int = 1, per_page: int = PER_PAGE) -> str:
        """A plain-text table: the counts, then one line per copy with its source, target,
        times and CoCalc's error text, failures first, ``per_page`` lines a page."""
        rows, page, pages = self.page(page, per_page)
        zone = datetime.now().astimezone().tzname() or "local time"
        lines = [f"{self.what}: {self.summary()}" + (f" (times in {zone})" if rows else "")]
        for s in rows:
            started, finished = _when(s.started), _when(s.finished)
            if started and started[:10] == finished[:10]:
                finished = finished[11:]  # the same day: the time is enough
            times = [f"started {started}"] if started else []
            if not started and s.scheduled is not None:
                times.append(f"scheduled {_when(s.scheduled)}")
            if finished:
                times.append(f"finished {finished}")
            line = f"  {s.state:<9} {self._source(s)} -> {self._target(s)}"
            line += "".join(f"  {t}" for t in times)
            line += f"  ({' '.join(s.error.split())})" if s.error else ""
            lines.append(line)
        return "\n".join(lines + self.more(page, pages))

    def table_html(self, page: int = 1, per_page: int = PER_PAGE) -> str:
        """The same table in HTML, for notebooks (the copy id in each row's tooltip)."""
        rows, page, pages = self.page(page, per_page)
        left = "style='text-align:left'"

        def cell(
            text: str, tip: str | None = None, color: str | None = None, pre: bool = False
        ) -> str:
            style = f"text-align:left{f';color:{color}' if color else ''}"
            style += ";white-space:pre-wrap" if pre else ""
            title = f" title='{html.escape(tip)}'" if tip else ""
            return f"<td style='{style}'{title}>{html.escape(text)}</td>"

        body = "".join(
            "<tr>"
            + cell(
                s.state,
                f"copy {s.copy_path_id}" if s.copy_path_id else None,
                colour(s.state),
            )
            + cell(self._source(s), s.source_project_id)
            + cell(self._target(s), s.target_project_id)
            + cell(self._started(s))
            + cell(_when(s.finished))
            + cell(s.error or "", pre=True)
            + "</tr>"
            for s in rows
        )
        zone = datetime.now().astimezone().tzname() or "local time"
        more = "".join(self.more(page, pages, html=True))
        head = "".join(
            f"<th {left}>{h}</th>"
            for h in ("state", "source", "target", "started", "finished", "error")
        )
        table = f"<table><tr>{head}</tr>{body}</table>" if rows else ""
        return (
            f"<div><b>{html.escape(self.what)}</b>: {html.escape(self.summary())}"
            f"{f' (times in {html.escape(zone)})' if rows else ''}{table}{more}</div>"
        )

    def __repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        return self.table_html()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("CopyStatusTable(...)" if cycle else self.table())


class HandoutTable(list[dict[str, Any]]):
    """The hand-outs of a journal (a list of dicts), shown as a table."""

    def __init__(self, path: str, handouts: list[dict[str, Any]]) -> None:
        super().__init__(handouts)
        self.path = path

    @staticmethod
    def _counts(item: dict[str, Any]) -> str:
        return ", ".join(f"{n} {state}" for state, n in sorted(item["counts"].items()))

    def __repr__(self) -> str:
        lines = [f"Hand-outs in {self.path}:"]
        for item in self:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item["updated"]))
            running = " (running)" if item["running"] else ""
            lines.append(
                f"  {when} {item['src_project_id'][:8]}:{item['src_path']} -> "
                f"{item['targets']} targets{running}: {self._counts(item)}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            f"<td>{time.strftime('%Y-%m-%d %H:%M', time.localtime(i['updated']))}</td>"
            f"<td><code>{html.escape(i['src_project_id'][:8])}:{html.escape(i['src_path'])}"
            f"</code></td><td>{i['targets']}</td>"
            f"<td>{'running' if i['running'] else ''}</td>"
            f"<td>{html.escape(self._counts(i))}</td></tr>"
            for i in self
        )
        return (
            f"<div><b>Hand-outs</b> in <code>{html.escape(self.path)}</code><table><tr>"
            "<th>updated</th><th>source</th><th>targets</th><th></th><th>copies</th></tr>"
            f"{rows}</table></div>"
        )


def journal_status(src_project_id: str, src_path: str, row: JournalRow) -> CopyStatus:
    """A journal row as the :class:`CopyStatus` a copy search would show."""

    def when(t: float | None) -> datetime | None:
        return None if t is None else datetime.fromtimestamp(t, timezone.utc)

    ended = row.state in ("done", "failed", "not started", "unknown")
    error = row.error if row.state in ("failed", "not started") else None
    if row.state == "unknown":
        error = "outcome unknown: the request may or may not have reached CoCalc" + (
            f" ({row.error})" if row.error else ""
        )
    return CopyStatus(
        copy_path_id=row.copy_id,
        time=when(row.sent_at),
        source_project_id=src_project_id,
        source_path=src_path,
        target_project_id=row.target_project_id,
        target_path=row.target_path,
        started=when(row.sent_at),
        finished=(when(row.finished_at or row.sent_at) or datetime.now(timezone.utc))
        if ended
        else None,
        error=error,
    )
