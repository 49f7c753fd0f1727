"""Backpressure: send requests no faster than the server accepts them.

A window of requests in flight is not enough against a gateway that limits requests per
second: the window refills as fast as the answers come, and the 429s come with them. So the
client paces its *sending rate*:

- Unpaced until the server pushes back.
- On HTTP 429 or 503 *with* a ``Retry-After`` (a gateway pacing its clients), the rate drops
  to just under what the server accepted in the second before: the estimate of its limit. The
  first such refusal makes every request wait out the ``Retry-After``, and so do refusals of
  a fifth of the answers or more (measuring the limit again); a few later ones (requests that
  reached the server bunched together) ease the rate by 1% a second and hold back only the
  refused request, which the transport retries after its ``Retry-After``. A bare 503 is an
  error like others (retried by the transport), not a reason to slow down.
- While answers are good the rate holds there for a while, then grows slowly (2% a second) to
  find out whether the server now accepts more; refusals then ease it back.
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
_UNDER = 0.97  # the rate after a refusal, as a share of what the server accepted
_HOLD = 30.0  # seconds the rate holds after a cut before it grows again
_GROWTH = 0.02  # then it grows by this share per second of good answers
_LATENCY_CUT = 0.8  # the rate after latency climbed, as a share of what was accepted
_LATENCY_FACTOR = 4.0  # "climbed": the smoothed latency above this many times its lowest
_LATENCY_MARGIN = 1.0  # ... and at least this many seconds above it
_LATENCY_SAMPLES = 20  # answers seen before latency is judged
_EASE = 0.99  # the rate after a few refusals once the limit is known
_INSIST = 0.2  # a share of refused answers in one second that pauses every request
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
        self._cap = math.inf  # the rate the limit's measurement may restore, at most
        self._refusals: collections.deque[float] = collections.deque()  # in the last second
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
            while self._refusals and self._refusals[0] <= now - _WINDOW:
                self._refusals.popleft()
            sent = now - latency
            if status in (429, 503):
                self.refused += 1
                # Only a refusal that says when to come back is the server pacing its clients;
                # one without is an error like others (retried, not a reason to slow down).
                if retry_after is not None and retry_after > 0:
                    self._refused(now, sent, retry_after)
                return
            if status is None or status >= 500:
                return
            self._accepted.append(now)
            self._sent.append(sent)
            mark = self._mark
            if mark is not None and self.limit is not None:
                if mark - _WINDOW < sent <= mark:  # answered after the refusal, sent before it
                    self.limit += 1
                    self.rate = max(self.rate, _UNDER * min(self.limit, self._cap))
                elif sent > mark + _WINDOW:
                    self._mark = None  # every request sent before the refusal has answered
            self._best_accepted = max(self._best_accepted, len(self._accepted) / _WINDOW)
            if self._latency_climbed(latency):
                self._cut(now, _LATENCY_CUT)
            self._grow(now)

    def _refused(self, now: float, sent: float, retry_after: float) -> None:
        # The first time (the server's limit is not known yet), and whenever the server refuses
        # many (a fifth of the answers of the last second), everyone waits out the Retry-After
        # and the rate drops to just under the limit measured. A few refusals once the limit is
        # known are jitter (requests that reached the server bunched together): the rate eases
        # by 1%, and only the refused request waits (the transport retries it after its
        # Retry-After). Refusals that keep coming keep easing it.
        self._refusals.append(now)
        many = len(self._refusals) > _INSIST * (len(self._accepted) + len(self._refusals))
        if self.limit is not None and not many:
            if now - self._last_cut >= _WINDOW:
                self._last_cut = self._last_growth = now
                self.rate = max(self._floor(), self.rate * _EASE)
            return
        self._paused_until = max(self._paused_until, now + retry_after)
        before = self.rate
        if self._cut(now, _UNDER):
            # The limit is what the server accepted in the second before the refused request
            # was sent (counted on as the requests in flight then answer); after the first
            # time the rate does not grow back above the rate that was refused from it.
            self._cap = math.inf if self.limit is None else before
            self._mark = sent
            counted = sum(1 for t in self._sent if sent - _WINDOW < t <= sent)
            if counted:
                self.limit = float(counted)
                self.rate = max(self._floor(), _UNDER * min(counted, self._cap))

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
        self.rate = max(self._floor(), accepted * share)
        if share == _LATENCY_CUT:
            self._latency_low = math.inf  # judge from the latency at the new rate
            self._samples = 0
        return True

    def _floor(self) -> float:
        return max(_MIN_RATE, 0.5 * self._best_accepted)

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
