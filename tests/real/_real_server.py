"""Where the real CoCalc of ``tools/real-cocalc start`` runs, read from its env file.

The tests under ``tests/real`` run only when that file exists **and** the hub answers its
``/healthcheck``; otherwise they are skipped with a reason naming the command to run.
"""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path

import pytest
import requests

ENV_FILE = Path(
    os.environ.get("COCALC_REAL_ENV")
    or Path(
        os.environ.get("COCALC_REAL_CACHE")
        or Path.home() / ".cache" / "cocalc-widgets" / "real-cocalc"
    )
    / "env"
)
HOW = "tools/real-cocalc build --source PATH_TO_COCALC (once, ~30 min) && tools/real-cocalc start"
#: The generations a current CoCalc has (no API v1 there: /api/v1/* answers 404), and "auto".
APIS = ("v2", "conat", "auto")
NEEDED = ("COCALC_HOST", "COCALC_API_KEY", "COCALC_ACCOUNT_ID", "COCALC_COMMIT")


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            parts = shlex.split(value)
            out[key.strip()] = parts[0] if parts else ""
    return out


@functools.lru_cache(maxsize=1)
def server() -> tuple[dict[str, str] | None, str]:
    """``(env, "")`` when the real CoCalc answers, else ``(None, why it is skipped)``."""
    if not ENV_FILE.is_file():
        return None, f"no real CoCalc running: {ENV_FILE} is absent (run `{HOW}`)"
    env = parse(ENV_FILE.read_text())
    missing = [k for k in NEEDED if not env.get(k)]
    if missing:
        return None, (
            f"{ENV_FILE} lacks {', '.join(missing)} (a failed start?): run "
            "`tools/real-cocalc stop && tools/real-cocalc start`"
        )
    try:
        answer = requests.get(env["COCALC_HOST"] + "/healthcheck", timeout=5)
        ok = answer.status_code == 200
        why = f"HTTP {answer.status_code}"
    except requests.RequestException as err:
        ok, why = False, type(err).__name__
    if not ok:
        return None, (
            f"the real CoCalc at {env['COCALC_HOST']} (from {ENV_FILE}) does not answer its "
            f"/healthcheck ({why}): run `tools/real-cocalc stop && tools/real-cocalc start`"
        )
    return env, ""


def apis(**xfail: str) -> list[object]:
    """``APIS`` for ``parametrize("api", ...)``, the named ones ``xfail(strict=True)`` with the
    given reason: where this client disagrees with the real server on that generation."""
    return [
        pytest.param(a, marks=pytest.mark.xfail(strict=True, reason=xfail[a])) if a in xfail else a
        for a in APIS
    ]
