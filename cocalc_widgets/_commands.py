"""The handle returned by :class:`~cocalc_widgets.CoCalcFrame` commands.

A :class:`CommandHandle` is returned at once; it resolves when CoCalc's final reply comes back
through the front end (or fails with :class:`~cocalc_widgets.errors.CommandError` /
:class:`~cocalc_widgets.errors.CommandTimeout`). It is thread-safe and can be awaited on any
running event loop; in a Jupyter kernel, ``await handle`` inside a cell works because ipykernel
handles comm messages while a cell awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from .errors import CoCalcError, CommandError

__all__ = ["CommandHandle"]

_log = logging.getLogger(__name__)

#: The states of a command, in the order they happen.
QUEUED, SENT, ACKNOWLEDGED, DONE, ERROR, TIMED_OUT = (
    "queued",
    "sent",
    "acknowledged",
    "done",
    "error",
    "timed out",
)
_FINAL = frozenset({DONE, ERROR, TIMED_OUT})


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class CommandHandle:
    """One IFrame command: its payload, its progress and, once done, CoCalc's reply.

    - ``await handle`` returns CoCalc's final reply (a dict) or raises.
    - ``handle.result(timeout=None)`` does the same without ``await`` (for a later cell; it
      refuses to block the kernel's own event loop, since the reply could never arrive).
    - ``handle.done()``, ``handle.state``, ``handle.ack``, ``handle.reply``, ``handle.error``,
      ``handle.add_done_callback(fn)``.

    The clock (``timeout`` seconds) started when the command was issued.
    """

    def __init__(
        self,
        cid: int,
        payload: dict[str, Any],
        timeout: float,
        *,
        make_timeout: Callable[[CommandHandle], CoCalcError],
        reply_loop: Callable[[], asyncio.AbstractEventLoop | None] = lambda: None,
        cannot_wait: Callable[[CommandHandle], BaseException | None] = lambda _h: None,
        stalled: Callable[[CommandHandle], BaseException | None] = lambda _h: None,
        stall_after: float = float("inf"),
    ) -> None:
        self.id = cid
        self.payload: dict[str, Any] = dict(payload)
        self.action: str = str(payload.get("action"))
        self.timeout = float(timeout)
        self.issued = time.monotonic()
        self.deadline = self.issued + self.timeout
        #: CoCalc's ``{"status": "ack", ...}`` reply to ``open``, once it came.
        self.ack: dict[str, Any] | None = None
        #: CoCalc's final reply (``status`` "done" or "error"), once it came.
        self.reply: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._state = QUEUED
        self._finished: float | None = None
        self._lock = threading.RLock()
        self._event = threading.Event()
        self._callbacks: list[Callable[[CommandHandle], Any]] = []
        self._make_timeout = make_timeout
        self._reply_loop = reply_loop
        # Why waiting for the reply cannot work here (a host that holds replies back), if so.
        self._cannot_wait = cannot_wait
        # Why a wait that has gone on ``stall_after`` seconds cannot end well (no view of the
        # frame exists), if so: the wait then ends with that error instead of the timeout.
        self._stalled = stalled
        self._stall_after = float(stall_after)
        #: The loop the command was issued on (the kernel's, in a notebook): it runs the timer.
        self._loop = _running_loop()
        self._timer: asyncio.TimerHandle | None = None
        if self._loop is not None:
            self._timer = self._loop.call_later(self.timeout, self._expire)

    # -- reading -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``queued``, ``sent``, ``acknowledged``, ``done``, ``error`` or ``timed out``."""
        self._check_deadline()
        return self._state

    @property
    def error(self) -> BaseException | None:
        """The exception the command failed with, or ``None``."""
        self._check_deadline()
        return self._error

    @property
    def elapsed(self) -> float:
        """Seconds from issue to the final reply (or until now, while pending)."""
        end = self._finished if self._finished is not None else time.monotonic()
        return end - self.issued

    def done(self) -> bool:
        """Whether the command has finished (replied, failed or timed out)."""
        self._check_deadline()
        return self._state in _FINAL

    def add_done_callback(self, fn: Callable[[CommandHandle], Any]) -> None:
        """Call ``fn(handle)`` when the command finishes (at once if it already has)."""
        with self._lock:
            if self._state not in _FINAL:
                self._callbacks.append(fn)
                return
        self._call(fn)

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """CoCalc's final reply; raises ``CommandError`` / ``CommandTimeout`` on failure.

        Waits at most ``timeout`` seconds (default: until the command's own deadline) and raises
        ``TimeoutError`` if the command is still pending then. Inside a running cell a blocking
        wait would stop the kernel from receiving the reply, so that raises ``RuntimeError``:
        use ``await handle`` there (in marimo, which delivers replies only between cell runs,
        both raise at once: use :meth:`add_done_callback`).
        """
        if not self.done():
            refused = self._cannot_wait(self)
            if refused is not None:
                raise refused
            loop = _running_loop()
            if loop is not None and loop is self._reply_loop():
                raise RuntimeError(
                    f"{self._short()} is still {self._state}; its reply cannot arrive while this "
                    "cell blocks. Use `await handle` in this cell, or call .result() in a later "
                    "cell."
                )
            remaining = max(0.0, self.deadline - time.monotonic())
            end = time.monotonic() + (
                remaining if timeout is None else min(float(timeout), remaining)
            )
            while not self._event.wait(max(0.0, min(end - time.monotonic(), self._stall_after))):
                if self._stall_check() or time.monotonic() >= end:
                    break
            if not self.done():
                raise TimeoutError(f"{self._short()} is still {self._state}")
        return self._outcome()

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self._wait().__await__()

    async def _wait(self) -> dict[str, Any]:
        if not self.done():
            refused = self._cannot_wait(self)
            if refused is not None:
                raise refused
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()

            def wake(_h: CommandHandle) -> None:
                def settle() -> None:
                    if not fut.done():
                        fut.set_result(None)

                with contextlib.suppress(RuntimeError):  # loop closed
                    loop.call_soon_threadsafe(settle)

            self.add_done_callback(wake)
            remaining = max(0.0, self.deadline - time.monotonic())
            timer = loop.call_later(remaining, self._expire)
            stall = None
            if self._stall_after < remaining:
                stall = loop.call_later(self._stall_after, self._stall_check)
            try:
                await fut
            finally:
                timer.cancel()
                if stall is not None:
                    stall.cancel()
        return self._outcome()

    def _stall_check(self) -> bool:
        """A wait has gone on ``stall_after`` seconds: fail now if it cannot end well."""
        if self.done():
            return True
        error = self._stalled(self)
        return error is not None and self._fail(error, TIMED_OUT)

    def _outcome(self) -> dict[str, Any]:
        if self._error is not None:
            raise self._error
        assert self.reply is not None
        return self.reply

    # -- repr ----------------------------------------------------------------------------------
    def _short(self) -> str:
        what = f"#{self.id} {self.action}"
        path = self.payload.get("path")
        if isinstance(path, str):
            what += f" {path!r}"
        return f"command {what}"

    def __repr__(self) -> str:
        state = self.state
        text = f"<CoCalc {self._short()}: {state}"
        if state == ERROR and isinstance(self._error, CommandError) and self._error.mesg:
            text += f" ({self._error.mesg})"
        elif state == TIMED_OUT:
            text += f" after {self.timeout:g} s"
        if state in _FINAL and state != TIMED_OUT:
            text += f" in {self.elapsed:.3f} s"
        elif state not in _FINAL:
            text += f", {self.elapsed:.1f} s of {self.timeout:g} s"
        return text + ">"

    # -- transitions: the frame that issued the command calls these, nobody else ----------------
    def mark_sent(self) -> None:
        """The front end has the command (queued next to the IFrame)."""
        with self._lock:
            if self._state == QUEUED:
                self._state = SENT

    def mark_unsent(self) -> None:
        """The view relaying it went away: queued again, for the next view."""
        with self._lock:
            if self._state in (SENT, ACKNOWLEDGED):
                self._state = QUEUED

    def set_ack(self, ack: dict[str, Any]) -> None:
        """CoCalc acknowledged the command (``open``'s first reply)."""
        with self._lock:
            if self._state not in _FINAL:
                self.ack = ack
                self._state = ACKNOWLEDGED

    def resolve(self, reply: dict[str, Any], ack: dict[str, Any] | None = None) -> bool:
        """Finish with CoCalc's final reply; ``False`` if the command had already finished."""
        with self._lock:
            if self._state in _FINAL:
                return False
            if ack is not None:
                self.ack = ack
            self.reply = reply
            if reply.get("status") == "error":
                mesg = reply.get("mesg")
                mesg = mesg if isinstance(mesg, str) else None
                self._error = CommandError(
                    f"CoCalc answered {self.action!r} with an error",
                    mesg=mesg,
                    reply=reply,
                    endpoint=self.action,
                )
                self._state = ERROR
            else:
                self._state = DONE
        self._finish()
        return True

    def _fail(self, error: BaseException, state: str = ERROR) -> bool:
        with self._lock:
            if self._state in _FINAL:
                return False
            self._error = error
            self._state = state
        self._finish()
        return True

    def _check_deadline(self) -> None:
        if self._state not in _FINAL and time.monotonic() >= self.deadline:
            self._expire()

    def _expire(self) -> None:
        with self._lock:
            if self._state in _FINAL:
                return
            if time.monotonic() < self.deadline - 0.002:  # woken early: wait for the deadline
                if self._loop is not None and self._loop.is_running():
                    self._loop.call_later(self.deadline - time.monotonic(), self._expire)
                return
        self._fail(self._make_timeout(self), TIMED_OUT)

    def _finish(self) -> None:
        self._finished = time.monotonic()
        timer, self._timer = self._timer, None
        if timer is not None and self._loop is not None:
            if _running_loop() is self._loop:
                timer.cancel()
            else:
                with contextlib.suppress(RuntimeError):  # loop closed
                    self._loop.call_soon_threadsafe(timer.cancel)
        self._event.set()
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._call(fn)

    def _call(self, fn: Callable[[CommandHandle], Any]) -> None:
        try:
            fn(self)
        except Exception:
            _log.exception("error in a done-callback of %s", self._short())
