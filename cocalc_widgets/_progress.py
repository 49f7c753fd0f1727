"""Progress display for long waits: an ipywidgets bar in a notebook, a text bar (tqdm) in a
terminal, nothing when the output goes elsewhere (a file, a pipe, a log)."""

from __future__ import annotations

import sys
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
    """A progress bar shown after ``delay`` seconds: a widget in a notebook, text in a terminal.

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
        """A bar if ``progress`` is true, or ``None`` in a notebook or a terminal (a widget in
        a notebook, text on standard error elsewhere); else a no-op."""
        notebook = in_notebook()
        if progress is None:
            progress = notebook or _is_terminal(sys.stderr)
        if not progress:
            return _NoProgress(label)
        kind = cls if notebook else _TextProgress
        return kind(label, total=total, delay=delay, info=info)

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
            self._end(state)
        self._closed = True

    def _end(self, state: str | None) -> None:
        """The bar's last look: green, red, or amber if the wait ended before the copies."""
        self._bar.bar_style = {"done": "success", "failed": "danger"}.get(state or "", "warning")

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


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed
        return False


class _TextProgress(Progress):
    """The same bar as text, drawn by tqdm on standard error (a script, a terminal)."""

    def _show(self) -> None:
        from tqdm import tqdm

        self._widget = tqdm(
            total=self.total,
            desc=self.label,
            file=sys.stderr,
            unit="copy" if self.total else "it",
            dynamic_ncols=True,
            bar_format=None if self.total else "{desc} ({elapsed})",
            mininterval=0.2,
        )

    def _refresh(self, state: str | None, summary: str | None = None) -> None:
        self._shown_at = time.monotonic()
        bar = self._widget
        if self.total:
            bar.n = self.done
        extra = self.info() if self.info is not None and not summary else ""
        text = " · ".join(t for t in (summary or state or "", extra) if t)
        if self.total:
            bar.set_postfix_str(text)
        else:
            bar.set_description_str(f"{self.label}: {text}" if text else self.label)

    def _end(self, state: str | None) -> None:
        self._widget.close()  # the last line stays on the terminal
