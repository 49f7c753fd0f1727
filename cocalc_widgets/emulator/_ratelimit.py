"""A gateway-style rate limit for the emulator's API: at most N requests in any one second.

It is a *sliding one-second window* (a log of the times of the requests it accepted): a request
arriving at time ``t`` is accepted when fewer than N requests were accepted in ``(t - 1 s, t]``,
and refused otherwise. So no one-second span ever holds more than N accepted requests, a burst
of N is accepted at once, and the N+1st waits until the oldest of those is one second old.
Refused requests do not count (a client that retries does not push its own next slot further
out). One limit covers the whole server, every client together.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 1.0
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*(?:/\s*s)?\s*$")


def check_rate_limit(value: object) -> int | None:
    """``value`` as a limit: a whole number of requests per second (at least 1), or ``None``
    (no limit). Accepts ``200``, ``200.0``, ``"200"`` and ``"200/s"``; else ``ValueError``."""
    if value is None:
        return None
    number: object = value
    if isinstance(value, str):
        match = _LIMIT_RE.match(value)
        number = int(match.group(1)) if match else None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(
            f"rate limit {value!r}: give a whole number of requests per second, at least 1 "
            "(like 200 or 200/s)"
        )
    return number


class RateLimiter:
    """At most ``limit`` accepted requests in any one-second window (``None``: no limit).

    Thread-safe. ``limit`` can change at any time; requests accepted before still count in their
    window. ``accepted`` and ``refused`` count the decisions made while a limit was set.
    """

    def __init__(
        self, limit: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self._limit = check_rate_limit(limit)
        self.accepted = 0
        self.refused = 0

    @property
    def limit(self) -> int | None:
        """Requests per second allowed, or ``None`` (off)."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        checked = check_rate_limit(value)
        with self._lock:
            self._limit = checked
            if checked is None:
                self._times.clear()

    def admit(self) -> float | None:
        """Decide one request now: ``None`` if accepted, else the seconds until a request would
        be accepted (more than 0, at most one second)."""
        with self._lock:
            limit = self._limit
            if limit is None:
                return None
            now = self._clock()
            times = self._times
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                self.accepted += 1
                return None
            self.refused += 1
            # Accepted again once all but limit - 1 of the window's requests have left it.
            return times[len(times) - limit] + WINDOW_S - now

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` for a wait in seconds: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait)))

    def describe(self) -> str:
        """One line for people: the limit and how it is counted."""
        if self._limit is None:
            return "off"
        return (
            f"{self._limit} requests/s (sliding one-second window over every API path; "
            "above it: HTTP 429 with Retry-After)"
        )
