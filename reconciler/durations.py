"""Durations as a spec writes them: `90`, `30s`, `5m`, `1h`, `1h30m` (seconds when no unit is given)."""

from __future__ import annotations

import re

PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d)?)+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)?")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(value: str | int | float) -> float:
    """The duration in seconds; ValueError for anything that is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    text = str(value).strip()
    if not text or not re.fullmatch(PATTERN, text):
        raise ValueError(f"not a duration: {value!r} (write it as 90s, 5m, 1h or 1h30m)")
    return sum(float(n) * _UNIT[u or None] for n, u in _PART.findall(text))


def spoken(value: float) -> str:
    """5m, 1h30m, 45s, 0.5s: the short form people write."""
    if value < 60 and value != int(value):
        return f"{value:g}s"
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return out or "0s"
