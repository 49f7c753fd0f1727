"""CoCalc's copy search (API v1 ``copy_path_status`` by project), paged: the one way the
hand-out reads it, to watch many copies at once and to find sends lost in a crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..copyjob import CopyStatus

if TYPE_CHECKING:
    from ..client import CoCalcClient

#: CoCalc's largest ``limit`` for a search, and its largest ``offset``.
PAGE = 1000
MAX_OFFSET = 100_000


class RanOut(Exception):
    """The search reached CoCalc's largest offset before it reached back far enough."""


def pages(client: CoCalcClient, since: float, **filters: Any) -> Iterator[list[CopyStatus]]:
    """The search's pages, newest first, until a short page, a page that reaches back before
    ``since`` (seconds since the epoch, the server's clock), or one without times; then
    :class:`RanOut` if CoCalc's largest offset came first. ``filters``: the search's
    (``src_project_id``, ``src_path``, ``pending``, ...). A client error propagates."""
    offset = 0
    while offset <= MAX_OFFSET:
        found = client.copy_path_status(limit=PAGE, offset=offset, **filters)
        page = found if isinstance(found, list) else [found]
        yield page
        times = [s.time.timestamp() for s in page if s.time is not None]
        if len(page) < PAGE or not times or min(times) < since:
            return
        offset += PAGE
    raise RanOut
