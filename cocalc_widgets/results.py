"""What :class:`~cocalc_widgets.CoCalcClient`'s methods return, whatever API generation
answered: small, typed values. Secrets (auth tokens and links that carry one) hide themselves
in ``repr``, so that they do not end up in a notebook's output by accident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["AuthLink", "AuthToken", "ExecResult", "FileEntry", "OrgToken", "Pong"]


class AuthToken(str):
    """An auth token for embedding (a ``str``); its ``repr`` hides it, so it does not show up
    in notebook outputs by accident. Use ``str(token)`` or the value itself where needed."""

    def __repr__(self) -> str:
        return "AuthToken('***')"


class AuthLink(str):
    """A sign-in URL that carries an auth token (``.../auth/impersonate?auth_token=...``), as a
    ``str`` whose ``repr`` hides the token."""

    def __repr__(self) -> str:
        base = self.split("?", 1)[0]
        return f"AuthLink('{base}?auth_token=***')"


class OrgToken(NamedTuple):
    """What :meth:`CoCalcClient.create_token` returns: the token and the URL that signs a browser
    in with it (``token, url = client.create_token(user)`` works too). Both hide in ``repr``."""

    token: AuthToken
    url: AuthLink


@dataclass(frozen=True)
class ExecResult:
    """The output of :meth:`CoCalcClient.project_exec`."""

    stdout: str
    stderr: str
    exit_code: int | None


@dataclass(frozen=True)
class Pong:
    """The reply to :meth:`CoCalcClient.ping`: the server's clock and the round trip time."""

    now: datetime | None
    latency: float


@dataclass(frozen=True)
class FileEntry:
    """One entry of :meth:`CoCalcClient.list_files` (CoCalc's directory listing).

    ``size`` is in bytes for a file and the number of entries for a folder; ``mtime`` is the
    time of the last change; ``link_target`` the text of a symlink (``None`` for anything
    else); ``raw`` is CoCalc's own record.
    """

    name: str
    isdir: bool = False
    size: int | None = None
    mtime: datetime | None = None
    raw: dict[str, Any] | None = None
    link_target: str | None = None

    def __repr__(self) -> str:
        kind = "dir" if self.isdir else "file"
        return f"<FileEntry {kind} {self.name!r} size={self.size}>"
