"""The exceptions of cocalc_widgets: one base class, :class:`CoCalcError`, and subclasses that
tell apart what went wrong, so callers can catch exactly what they can handle.

Every error carries ``endpoint`` (the client method you called, or the IFrame action), ``route``
(the API generation and wire endpoint that answered, e.g. ``"conat system.listing"``, or
``None``), ``status`` (the HTTP status, or ``None``) and ``server_message`` (CoCalc's own text,
or ``None``); ``str(error)`` always includes the server's text. No error ever holds an API key
or an auth token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BadInput",
    "CoCalcConnectionError",
    "CoCalcError",
    "CoCalcTimeout",
    "CommandError",
    "CommandTimeout",
    "CopyFailed",
    "CopyKeyRefused",
    "CopyNotFound",
    "CopyRefused",
    "FrameNotReady",
    "JournalError",
    "NotADirectory",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
]


class CoCalcError(Exception):
    """Base class of every error raised by cocalc_widgets."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        response: Any = None,
        route: str | None = None,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        #: Which API generation and wire endpoint answered (``"v2 projects/copy-path"``).
        self.route = route
        self.status = status
        self.server_message = server_message
        #: The decoded JSON body (or text) of the reply, when there was one.
        self.response = response
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        answered = self.status == 200  # CoCalc answered: its refusal is in the body
        if self.server_message and self.server_message not in text:
            if answered:
                text = f"{text.rstrip('.:; ')}. CoCalc said: {self.server_message}"
            else:
                text = f"{text}: {self.server_message}"
        where = []
        if self.endpoint and self.route and self.route != self.endpoint:
            where.append(f"{self.endpoint} via {self.route}")
        elif self.endpoint or self.route:
            where.append(self.endpoint or self.route or "")
        if self.status is not None and not answered:
            where.append(f"HTTP {self.status}")
        return f"{text} [{', '.join(where)}]" if where else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BadInput(CoCalcError, ValueError):
    """The arguments are invalid; nothing was sent."""


class AuthenticationError(CoCalcError):
    """No API key, or the server refused the key (or the auth token)."""


class PermissionDenied(CoCalcError):
    """The key is valid but may not do this (CoCalc's "ACCESS BLOCKED")."""


class NotFound(CoCalcError):
    """Unknown endpoint, project, path or copy operation."""


class NotADirectory(NotFound, NotADirectoryError):
    """A folder was asked for (``list_files``) and the path is a file (CoCalc's ``ENOTDIR``)."""


class RateLimited(CoCalcError):
    """The server answered HTTP 429 and retries ran out. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(CoCalcError):
    """The server or a gateway failed (HTTP 5xx, an HTML page, a body that is not JSON)."""


class CoCalcConnectionError(CoCalcError, ConnectionError):
    """The server could not be reached (no connection made, or the connection was reset)."""


class CoCalcTimeout(CoCalcError, TimeoutError):
    """No answer in time."""


class OutcomeUnknown(CoCalcError):
    """A request that changes something (a copy) was sent but its reply was lost, or the
    server gave up waiting for it (the conat bridge's timeout) while it goes on.

    It may or may not have happened. It is never re-sent blindly: look it up (API v1:
    ``copy_path_status(src_project_id=..., target_project_id=...)``) or check the target.
    """


class _ServerFailedMidway(OutcomeUnknown, ServerError):
    """A server error page in reply to a call that changes something: both a
    :class:`ServerError` and an :class:`OutcomeUnknown` (it may have been carried out)."""


class JournalError(CoCalcError):
    """The journal of fan-out copies cannot be used: damaged, of another format, or the same
    hand-out is running in another process. Nothing was sent, and the file is unchanged."""


class CopyFailed(CoCalcError):
    """The copy finished with an error; ``status`` is the final :class:`CopyStatus`."""

    def __init__(self, message: str, *, copy_status: Any = None, **kw: Any) -> None:
        self.copy_status = copy_status
        super().__init__(message, **kw)


class CopyRefused(CopyFailed, PermissionDenied):
    """The copy ended with CoCalc's refusal (not a collaborator of the source or the target
    project): a :class:`PermissionDenied` as well, as the same refusal is when CoCalc says it
    before the copy starts (API v1 and v2) rather than when it ends (the conat bridge)."""


class CopyNotFound(CopyFailed, NotFound):
    """The copy ended because its source does not exist: a :class:`NotFound` as well, as the
    same mistake is when CoCalc says it before the copy starts."""


class CopyKeyRefused(CopyFailed, AuthenticationError):
    """The copy ended because CoCalc refused the API key (the conat bridge says so when the
    copy ends): an :class:`AuthenticationError` as well, as the same key is refused when CoCalc
    says it before the copy starts (API v1 and v2)."""


class CommandError(CoCalcError):
    """CoCalc's IFrame bridge answered a command with ``status: "error"``; ``mesg`` is its text."""

    def __init__(self, message: str, *, mesg: str | None = None, reply: Any = None, **kw: Any):
        self.mesg = mesg
        self.reply = reply
        kw.setdefault("server_message", mesg)
        super().__init__(message, **kw)


class CommandTimeout(CoCalcTimeout):
    """An IFrame command got no reply in time; the message says why that usually happens."""


class FrameNotReady(CommandTimeout):
    """An IFrame command timed out before it could be sent: the frame was not displayed, or
    CoCalc never answered the frame's ``status`` polls (so it is not listening to this page)."""
