"""Kiosk pages of the emulator (placeholder; the real pages come with the kiosk work)."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ._state import EmulatorState


def handle_kiosk(state: EmulatorState, request: Request) -> Response | None:
    """Answer a non-API request (kiosk page, sign-in, static file), or ``None`` if not ours."""
    return None
