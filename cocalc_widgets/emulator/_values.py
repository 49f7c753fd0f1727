"""How CoCalc's JavaScript reads request values (form bodies give strings), and date parsing."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from ._state import UUID_RE


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def js_str(value: object) -> str:
    """``${value}`` in JavaScript."""
    if value is None:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(js_str(v) for v in value)
    return str(value)


def js_loose_true(value: object) -> bool:
    """``value == true`` in JavaScript (KuCalc's test of ``wait_until_done``)."""
    if value is True:
        return True
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        try:
            return float(value.strip() or "0") == 1
        except ValueError:
            return False
    return False


def js_truthy(value: object) -> bool:
    """``!!value`` in JavaScript (``[]`` and ``{}`` are true, ``NaN`` is false)."""
    if isinstance(value, (list, dict)):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def js_strict_true(value: object) -> bool:
    """``value === true || value === "true"`` (``copy_path_status``'s ``pending``/``failed``)."""
    return value is True or value == "true"


_PG_TRUE = {"t", "true", "y", "yes", "on", "1"}
_PG_FALSE = {"f", "false", "n", "no", "off", "0"}


def pg_bool(value: object, name: str) -> bool:
    """A value stored in a PostgreSQL boolean column; raises ``ValueError`` like PostgreSQL."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _PG_TRUE:
        return True
    if text in _PG_FALSE:
        return False
    raise ValueError(f'invalid input syntax for type boolean: "{value}" ({name})')


def js_number(value: object) -> float | None:
    """``Number(value)``; ``None`` for NaN."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else float(value)
    text = str(value).strip()
    if text == "":
        return 0.0
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def js_parse_int(value: str) -> int | None:
    """``parseInt(value)``: leading digits, ``None`` for NaN."""
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else None


_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")


def parse_date(value: object) -> float | None:
    """Roughly ``Date.parse``: ISO 8601 (``Z``/offset/naive = UTC) and a few common forms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    stamp: datetime | None = None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                stamp = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()
