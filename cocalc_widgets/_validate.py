"""Input checks shared by the client and the widget. Each raises :class:`BadInput` before
anything is sent, with a message that names the argument and says what is wrong."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from urllib.parse import urlsplit

from .errors import BadInput

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def short(value: object) -> str:
    """``repr(value)``, cut to 60 characters, for error messages."""
    return _short(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: What a UUID-valued argument is, by its name (for messages); a project id otherwise.
_UUID_KINDS = {
    "copy_path_id": "a copy id (the UUID a copy's job has in .copy_path_id)",
    "COPY_PATH_ID": "a copy id (the UUID a copy's job has in .copy_path_id)",
    "account_id": "an account id (a UUID)",
}


def project_id(value: object, name: str = "project_id") -> str:
    """A project id (or another CoCalc UUID, by ``name``: a copy or account id), returned in
    lowercase."""
    if not isinstance(value, str) or not _UUID_RE.match(value.strip().lower()):
        kind = _UUID_KINDS.get(name, "a project UUID")
        raise BadInput(f"{name} must be {kind} like '7c1b2e7a-...', got {_short(value)}")
    return value.strip().lower()


def path(value: object, name: str = "path") -> str:
    """A path inside a project: a non-empty string relative to the project's home, with no
    control characters and no empty, ``.`` or ``..`` parts (a trailing ``/`` names a folder)."""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string, got {_short(value)}")
    if value.strip() == "":
        raise BadInput(f"{name} must not be empty")
    if _CONTROL_RE.search(value):
        raise BadInput(f"{name} must not contain control characters, got {_short(value)}")
    if value.startswith("/"):
        raise BadInput(f"{name} must be relative to the project's home, got {_short(value)}")
    parts = value.split("/")
    if parts[-1] == "":
        parts = parts[:-1]
    if any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"{name} must not have empty, '.' or '..' parts, got {_short(value)}")
    return value


def seconds(value: object, name: str, *, allow_none: bool = True) -> float | None:
    """A non-negative, finite number of seconds."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise BadInput(f"{name} must be a non-negative number of seconds, got {_short(value)}")
    return value


def count(value: object, name: str, *, maximum: int | None = None) -> int | None:
    """A non-negative integer (or ``None``), at most ``maximum``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"{name} must be a non-negative integer, got {_short(value)}")
    if maximum is not None and value > maximum:
        raise BadInput(f"{name} must be at most {maximum}, got {value}")
    return value


def flag(value: object, name: str) -> bool | None:
    """A real boolean (or ``None``): ``"false"`` is not accepted, it would read as true."""
    if value is None or isinstance(value, bool):
        return value
    raise BadInput(f"{name} must be True or False, got {_short(value)}")


def text(value: object, name: str) -> str:
    """Any string."""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string, got {_short(value)}")
    return value


def patterns(value: object, name: str = "exclude") -> list[str] | None:
    """rsync exclude patterns: one string or an iterable of non-empty strings."""
    if value is None:
        return None
    items: Iterable[object] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    try:
        result = list(items)
    except TypeError:
        raise BadInput(f"{name} must be a string or a list of strings") from None
    for item in result:
        if not isinstance(item, str) or not item or "\x00" in item:
            raise BadInput(f"{name} patterns must be non-empty strings, got {_short(item)}")
    return result  # type: ignore[return-value]


def timestamp(value: object, name: str = "scheduled") -> str | None:
    """A time for ``scheduled``: a ``datetime`` (naive means local time) or an ISO 8601 string.

    Returned as a UTC ISO string, which CoCalc's ``Date.parse`` reads.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"{name} must be an ISO 8601 time, got {_short(value)}") from None
        if value.tzinfo is None:  # CoCalc reads a bare ISO time as UTC
            value = value.replace(tzinfo=timezone.utc)
    if not isinstance(value, datetime):
        raise BadInput(f"{name} must be a datetime or an ISO 8601 string, got {_short(value)}")
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """The origin (``scheme://host[:port]``, lowercase) of a base URL."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def base_url(value: object, name: str = "host") -> str:
    """A CoCalc server's base URL: http(s)://host[:port][/base], without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{name} must be a URL like 'https://cocalc.com', got {_short(value)}")
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{name} must be an http(s) URL, got {_short(value)}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BadInput(f"{name} must be a plain base URL (no query, fragment or credentials)")
    segments = parts.path.split("/")
    if "api" in segments:  # http://host/api/v1: the client adds the API's own path
        base = "/".join(segments[: segments.index("api")])
        raise BadInput(
            f"{name} must be the CoCalc server's base URL, not an API route: drop "
            f"{'/' + '/'.join(segments[segments.index('api') :]).rstrip('/')!r} and use "
            f"{origin_of(url) + base!r}"
            " (the client adds /api/v1, /api/v2 or /api/conat itself)"
        )
    return origin_of(url) + parts.path.rstrip("/")
