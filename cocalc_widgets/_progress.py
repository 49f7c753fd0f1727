"""Progress display for long waits: an ipywidgets bar in a notebook, nothing in a plain script."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def in_notebook() -> bool:
    """True when running in a Jupyter kernel (where widgets can be shown)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """A progress bar shown after ``delay`` seconds, in a notebook only.

    ``total`` is the number of items (copies); without it the bar only shows the state and the
    time waited. ``info``, if given, is called at each refresh for a few more words (the rate
    the client is held to, for example). ``update()`` is cheap: the widget is refreshed at most
    every 0.2 s.
    """

    #: Whether anything can be shown (``False`` for the no-op bar outside notebooks).
    live = True

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        delay: float = 1.0,
        info: Callable[[], str] | None = None,
    ) -> None:
        self.label = label
        self.info = info
        self.total = total
        self.delay = delay
        self.start = time.monotonic()
        self.done = 0
        self._widget: Any = None
        self._bar: Any = None
        self._text: Any = None
        self._shown_at = 0.0
        self._closed = False

    @classmethod
    def maybe(
        cls,
        progress: bool | None,
        label: str,
        *,
        total: int | None = None,
        delay: float = 1.0,
        info: Callable[[], str] | None = None,
    ) -> Progress:
        """A real bar if ``progress`` is true (or ``None`` in a notebook); else a no-op."""
        if progress is None:
            progress = in_notebook()
        if not progress:
            return _NoProgress(label)
        return cls(label, total=total, delay=delay, info=info)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def update(self, state: str | None = None, done: int | None = None) -> None:
        """Record progress; shows or refreshes the bar when due."""
        if done is not None:
            self.done = done
        now = time.monotonic()
        if self._closed or now - self.start < self.delay:
            return
        if self._widget is None:
            self._show()
        elif now - self._shown_at < 0.2:
            return
        self._refresh(state)

    def close(self, state: str | None, summary: str | None = None) -> None:
        """Final update; the bar stays visible with the outcome (green, red, or amber if the
        wait ended before the copies did), and ``summary`` in place of the state if given
        (``11 done, 1 failed``)."""
        if self._widget is not None and not self._closed:
            if self.total is not None and state in ("done", "failed"):
                self.done = self.total
            self._refresh(state, summary)
            style = {"done": "success", "failed": "danger"}.get(state or "", "warning")
            self._bar.bar_style = style
        self._closed = True

    def _show(self) -> None:
        import ipywidgets as w
        from IPython.display import display

        self._bar = w.FloatProgress(value=0, min=0, max=self.total or 1, bar_style="info")
        self._text = w.HTML()
        self._widget = w.HBox([self._bar, self._text])
        display(self._widget)

    def _refresh(self, state: str | None, summary: str | None = None) -> None:
        import html

        self._shown_at = time.monotonic()
        waited = self._shown_at - self.start
        if summary:
            self._bar.value = self.done if self.total else 1
            self._text.value = f"{html.escape(self.label)}: {html.escape(summary)} ({waited:.1f} s)"
            return
        if self.total:
            self._bar.value = self.done
            count = f"{self.done}/{self.total} "
        else:
            self._bar.value = 1 if state in ("done", "failed") else 0
            count = ""
        extra = self.info() if self.info is not None else ""
        extra = f" · {html.escape(extra)}" if extra else ""
        self._text.value = (
            f"{html.escape(self.label)}: {count}{html.escape(state or '')}{extra} ({waited:.1f} s)"
        )


class _NoProgress(Progress):
    live = False

    def update(self, state: str | None = None, done: int | None = None) -> None:
        pass

    def close(self, state: str | None, summary: str | None = None) -> None:
        pass
