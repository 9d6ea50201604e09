"""Ansible's free-form task text and its lists, read the way Ansible reads them."""

from __future__ import annotations

import re
import shlex
from typing import Any

EXPRESSION = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.S)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _words(text: str) -> list[str] | None:
    """Shell-like words, a `{{ … }}` counting as part of the word it is in (as Ansible splits)."""
    blocks: list[str] = []

    def hide(m: re.Match[str]) -> str:
        blocks.append(m.group(0))
        return f"\x00{len(blocks) - 1}\x00"

    try:
        words = shlex.split(EXPRESSION.sub(hide, text))
    except ValueError:
        return None
    return [re.sub(r"\x00(\d+)\x00", lambda m: blocks[int(m.group(1))], w) for w in words]


def key_values(text: str) -> dict[str, Any] | None:
    """`path=/srv state=directory owner={{ user }}` as a mapping."""
    words = _words(text)
    if words is None:
        return None
    out: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            return None
        out[key] = value
    return out


def free_form(text: str) -> dict[str, Any]:
    """A command module's free-form text: the command, with `creates=`, `removes=` and `chdir=` taken out."""
    out: dict[str, Any] = {}
    kept = []
    for word in re.split(r"(\s+)", text):
        key, sep, value = word.partition("=")
        if sep and key in ("creates", "removes", "chdir") and value:
            out[key] = value
        else:
            kept.append(word)
    out["_raw_params"] = "".join(kept).strip()
    return out
