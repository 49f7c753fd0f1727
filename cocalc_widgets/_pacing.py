"""Backpressure: send requests no faster than the server accepts them.

A window of requests in flight is not enough against a gateway that limits requests per
second: the window refills as fast as the answers come, and the 429s come with them. So the
client paces its *sending rate*:

- Unpaced until the server pushes back.
- On HTTP 429 or 503 *with* a ``Retry-After`` (a gateway pacing its clients), every request
  waits out the ``Retry-After``, and the rate drops to just under what the server accepted in
  the last second: the estimate of its limit. A bare 503 is an error like others (retried by
  the transport), not a reason to slow down.
- While answers are good the rate holds there for a while, then grows slowly (2% a second) to
  find out whether the server now accepts more; the next refusal measures the limit again.
- When the answers' latency climbs far above what it was (a server drowning without saying
  so), the rate drops to 80% of what was accepted, with no pause.
- The rate never drops below half the best accepted rate seen, so that refusals that have
  nothing to do with the rate cannot starve the client.

``max_in_flight`` stays the ceiling of requests at once.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

__all__ = ["Pacer"]

_WINDOW = 1.0  # seconds over which the accepted rate is measured
_UNDER = 0.95  # the rate after a refusal, as a share of what the server accepted
_HOLD = 15.0  # seconds the rate holds after a cut before it grows again
_GROWTH = 0.02  # then it grows by this share per second of good answers
_LATENCY_CUT = 0.8  # the rate after latency climbed, as a share of what was accepted
_LATENCY_FACTOR = 4.0  # "climbed": the smoothed latency above this many times its lowest
_LATENCY_MARGIN = 1.0  # ... and at least this many seconds above it
_LATENCY_SAMPLES = 20  # answers seen before latency is judged
_MIN_RATE = 1.0  # requests per second, whatever happens


class Pacer:
    """Paces requests from many threads: :meth:`acquire` before each, :meth:`record` after."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        #: Requests per second allowed now (``inf``: not paced).
        self.rate = math.inf
        #: The server's limit as last measured (requests accepted in the second before a
        #: refusal), or ``None``.
        self.limit: float | None = None
        self._next = 0.0  # when the next request may leave
        self._paused_until = 0.0
        self._accepted: collections.deque[float] = collections.deque()  # answer times
        self._sent: collections.deque[float] = collections.deque()  # accepted ones' send times
        self._mark: float | None = None  # when the request that was refused last was sent
        self._last_growth = 0.0
        self._last_cut = -math.inf
        self._best_accepted = 0.0  # the most answers accepted in one window so far
        self._latency = 0.0  # smoothed
        self._latency_low = math.inf
        self._samples = 0
        #: Refusals (429/503) seen, and requests answered.
        self.refused = 0
        self.answered = 0

    def acquire(self) -> None:
        """Wait until this request may leave (its slot is taken at once, so requests from many
        threads leave one ``1 / rate`` apart)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if math.isfinite(self.rate):
                start = max(start, self._next)
                self._next = start + 1.0 / self.rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)

    def record(self, status: int | None, latency: float, retry_after: float | None = None) -> None:
        """What the server said to one request (``status`` ``None``: no answer)."""
        with self._lock:
            now = self._clock()
            self.answered += 1
            while self._accepted and self._accepted[0] <= now - _WINDOW:
                self._accepted.popleft()
            while self._sent and self._sent[0] <= now - 3 * _WINDOW:
                self._sent.popleft()
            sent = now - latency
            if status in (429, 503):
                self.refused += 1
                # Only a refusal that says when to come back is the server pacing its clients;
                # one without is an error like others (retried, not a reason to slow down).
                if retry_after is not None and retry_after > 0:
                    if self._cut(now, _UNDER):
                        self._measure(sent)
                    self._paused_until = max(self._paused_until, now + retry_after)
                return
            if status is None or status >= 500:
                return
            self._accepted.append(now)
            self._sent.append(sent)
            mark = self._mark
            if mark is not None and self.limit is not None:
                if mark - _WINDOW < sent <= mark:  # answered after the refusal, sent before it
                    self.limit += 1
                    self.rate = max(self.rate, _UNDER * self.limit)
                elif sent > mark + _WINDOW:
                    self._mark = None  # every request sent before the refusal has answered
            self._best_accepted = max(self._best_accepted, len(self._accepted) / _WINDOW)
            if self._latency_climbed(latency):
                self._cut(now, _LATENCY_CUT)
            self._grow(now)

    def _measure(self, mark: float) -> None:
        """The server's limit: the requests it accepted in the second before it refused one
        sent at ``mark`` (counted by when they were sent, and by :meth:`record` as the ones
        still in flight answer)."""
        self._mark = mark
        self.limit = float(sum(1 for t in self._sent if mark - _WINDOW < t <= mark))
        if self.limit:
            self.rate = max(self.rate, _UNDER * self.limit)
        else:
            self.limit = None

    def _latency_climbed(self, latency: float) -> bool:
        self._samples += 1
        self._latency = latency if self._samples == 1 else 0.9 * self._latency + 0.1 * latency
        if self._samples < _LATENCY_SAMPLES:
            return False
        self._latency_low = min(self._latency_low, self._latency)
        low = self._latency_low
        return self._latency > max(low * _LATENCY_FACTOR, low + _LATENCY_MARGIN)

    def _cut(self, now: float, share: float) -> bool:
        """Rate to ``share`` of what the server accepted in the last second; ``False`` if a cut
        came less than a second ago (the refusals of one burst are one signal, not many)."""
        if now - self._last_cut < _WINDOW:
            return False
        self._last_cut = self._last_growth = now
        accepted = len(self._accepted) / _WINDOW
        if accepted <= 0:
            accepted = self.rate if math.isfinite(self.rate) else 10.0
        floor = max(_MIN_RATE, 0.5 * self._best_accepted)
        self.rate = max(floor, accepted * share)
        if share == _LATENCY_CUT:
            self._latency_low = math.inf  # judge from the latency at the new rate
            self._samples = 0
        return True

    def _grow(self, now: float) -> None:
        if not math.isfinite(self.rate) or now - self._last_cut < _HOLD:
            return
        elapsed = now - max(self._last_growth, self._last_cut + _HOLD)
        if elapsed >= 0.1:
            self.rate *= (1.0 + _GROWTH) ** elapsed
            self._last_growth = now

    def describe(self) -> str:
        """A few words for a progress bar: the rate in force, if any."""
        if not math.isfinite(self.rate):
            return ""
        text = f"≤ {self.rate:.0f} requests/s"
        if self.limit:
            text += f" (server limit ≈ {self.limit:.0f}/s)"
        return text
