"""``CoCalcFrame`` in marimo: a reactive view of the frame's state.

marimo delivers a widget's messages from the browser only between cell runs, so a cell cannot
``await`` a command's reply there (it raises at once, saying so). Drive the frame with callbacks
instead and let marimo re-run the cells that read :func:`frame_state`::

    state = frame_state(frame)          # in one cell
    state()["last_reply"]               # in another: re-runs when the frame's state changes
    mo.ui.button(label="open", on_click=lambda _: frame.open_file("a.md"))

This module imports marimo only when :func:`frame_state` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frame import CoCalcFrame

__all__ = ["STATE_TRAITS", "frame_state"]

#: The frame's traits that :func:`frame_state` mirrors.
STATE_TRAITS = ("mode", "ready", "open_files", "connection", "last_error", "last_reply")


def _snapshot(frame: CoCalcFrame) -> dict[str, Any]:
    state = {name: getattr(frame, name) for name in STATE_TRAITS}
    state["project_log"] = list(frame.project_log)
    return state


def frame_state(frame: CoCalcFrame) -> Callable[[], dict[str, Any]]:
    """A marimo state getter of the frame's ``mode``, ``ready``, ``open_files``,
    ``connection``, ``last_error``, ``last_reply`` and ``project_log``, updated whenever CoCalc
    (or the frame, in navigate mode) answers: the cells that call it re-run then.

    Call it once per frame, in the cell after the one that makes the frame.
    """
    import marimo as mo

    get, set_state = mo.state(_snapshot(frame))

    def changed(_change: Any) -> None:
        set_state(_snapshot(frame))

    frame.observe(changed, names=[*STATE_TRAITS, "project_log"])
    return get
