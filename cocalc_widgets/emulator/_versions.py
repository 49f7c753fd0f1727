"""The API generations the emulator can serve, and reading a list of them."""

from __future__ import annotations

from collections.abc import Iterable

API_VERSIONS = ("v1", "v2", "conat")


def parse_api_versions(value: Iterable[str] | str) -> tuple[str, ...]:
    """``"v2,conat"`` or ``["v2", "conat"]`` as a tuple; raises ``ValueError`` for an unknown
    name or none at all."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in API_VERSIONS]
    if unknown:
        raise ValueError(
            f"unknown API version '{unknown[0]}': choose any of {', '.join(API_VERSIONS)}"
        )
    if not names:
        raise ValueError(f"no API version given: choose any of {', '.join(API_VERSIONS)}")
    return tuple(dict.fromkeys(names))
