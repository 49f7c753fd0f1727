"""Facts about the notebook host this kernel runs in, where the host (not the widget) decides
what works: marimo's timing of widget messages, and the page origins of VS Code and Colab."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

__all__ = ["host_of_origin", "in_marimo", "in_voila", "marimo_wait_error", "voila_wait_error"]


def in_marimo() -> bool:
    """True when this code runs in a marimo notebook or app (without importing marimo)."""
    marimo = sys.modules.get("marimo")
    if marimo is None:
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # an old or partial marimo: assume not
        return False


def in_voila() -> bool:
    """True when this kernel runs a Voila dashboard (Voila says so in the kernel's environment)."""
    return os.environ.get("SERVER_SOFTWARE", "").lower().startswith("voila")


def voila_wait_error(what: str) -> RuntimeError:
    """Why a Voila notebook cell cannot wait for ``what`` before the page shows the frame."""
    return RuntimeError(
        f"Voila runs the whole notebook before its page connects and shows the frame, so a cell "
        f"cannot wait for {what}: it would wait until the timeout. Issue commands from widget "
        "callbacks (a button's on_click) and take the reply with "
        "`handle.add_done_callback(lambda h: ...)` or `frame.observe(...)`"
    )


def marimo_wait_error(what: str) -> RuntimeError:
    """Why a marimo cell cannot wait for ``what`` (a command's reply), and what to do instead."""
    return RuntimeError(
        f"marimo delivers a widget's messages from the browser only between cell runs, so this "
        f"cell cannot wait for {what}: it would wait until the timeout. Use the callback form "
        "instead: `get_reply, set_reply = mo.state(None)` in one cell, "
        "`frame.open_file('a.md').add_done_callback(lambda h: set_reply(h.reply))` in another "
        "(a marimo state setter re-runs the cells that read `get_reply()`), or "
        "`cocalc_widgets.marimo.frame_state(frame)`, or read `frame.last_reply` in a later cell"
    )


def host_of_origin(origin: str | None) -> str | None:
    """``"vscode"`` or ``"colab"`` when a page origin shows it, else ``None``."""
    if not origin:
        return None
    low = origin.lower()
    if low.startswith(("vscode-webview:", "vscode-file:")):
        return "vscode"
    host = urlsplit(low).hostname or ""
    if host.endswith(".googleusercontent.com") and "colab" in host:
        return "colab"
    return None
