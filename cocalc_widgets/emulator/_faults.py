"""Fault injection for the emulator's API: latency, 5xx, dropped connections, 504 pages, 429.

Off by default. Every decision comes from one seeded :class:`random.Random`, so a run with the
same seed and the same request order sees the same faults. All fields can be changed while the
server runs (``emulator.faults.fail_rate = 0.2``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field, fields

GATEWAY_TIMEOUT_HTML = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
SERVER_ERROR_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class DropConnection(ConnectionError):
    """Raised inside the WSGI app to close the TCP connection without any HTTP response."""


@dataclass
class Fault:
    """One decision: ``kind`` is ``"error"``, ``"drop"``, ``"gateway_timeout"`` or
    ``"rate_limit"``; ``after`` means the operation runs first and its reply is lost."""

    kind: str
    after: bool = False


@dataclass
class Faults:
    """Fault switches (rates are probabilities in [0, 1], checked per API request).

    - ``latency``: seconds added to every API request.
    - ``fail_rate``: HTTP ``error_status`` (default 503) HTML page, before the operation.
    - ``drop_rate``: TCP connection closed with no HTTP response.
    - ``gateway_timeout_rate``: nginx-style HTML 504 page.
    - ``rate_limit_rate``: HTTP 429 with ``Retry-After: retry_after``, before the operation.
    - ``after_fraction``: share of drops and 504s that happen *after* the operation was done
      (a lost reply); the rest happen before it. Default one half.
    - ``seed``: seed of the random generator (``None``: unpredictable).
    """

    latency: float = 0.0
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    gateway_timeout_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    after_fraction: float = 0.5
    error_status: int = 503
    seed: int | None = None
    injected: list[dict] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "seed" and hasattr(self, "_rng"):
            self._rng = random.Random(self.seed)

    @classmethod
    def from_value(cls, value: Faults | dict | None) -> Faults:
        """A :class:`Faults` from ``None``, a dict of fields, or a :class:`Faults`."""
        if value is None:
            return cls()
        if isinstance(value, Faults):
            return value
        return cls(**value)

    def configure(self, **changes: float | int | None) -> Faults:
        """Change several switches at once; unknown names raise ``TypeError``."""
        names = {f.name for f in fields(self)} - {"injected"}
        for key, value in changes.items():
            if key not in names:
                raise TypeError(f"unknown fault setting '{key}'")
            setattr(self, key, value)
        return self

    def off(self) -> Faults:
        """Switch every fault off (keeps the seed)."""
        return self.configure(
            latency=0.0, fail_rate=0.0, drop_rate=0.0, gateway_timeout_rate=0.0, rate_limit_rate=0.0
        )

    @property
    def active(self) -> bool:
        return bool(
            self.latency
            or self.fail_rate
            or self.drop_rate
            or self.gateway_timeout_rate
            or self.rate_limit_rate
        )

    def delay(self) -> None:
        """Sleep for the configured latency."""
        if self.latency and self.latency > 0:
            time.sleep(self.latency)

    def decide(self, endpoint: str = "") -> Fault | None:
        """Roll the dice for one request; ``None`` means answer normally."""
        with self._lock:
            roll = self._rng.random()
            after_roll = self._rng.random()
        chosen = None
        edge = 0.0
        for kind, rate in (
            ("rate_limit", self.rate_limit_rate),
            ("error", self.fail_rate),
            ("gateway_timeout", self.gateway_timeout_rate),
            ("drop", self.drop_rate),
        ):
            edge += max(0.0, float(rate or 0.0))
            if roll < edge:
                chosen = kind
                break
        if chosen is None:
            return None
        after = chosen in ("gateway_timeout", "drop") and after_roll < self.after_fraction
        fault = Fault(chosen, after)
        self.injected.append({"endpoint": endpoint, "kind": chosen, "after": after})
        return fault

    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, as HTTP requires."""
        return str(max(0, math.ceil(float(self.retry_after or 0))))
