"""A task's `loop`/`with_items` as a spec's `for_each`: names for its instances (a fixed list's items, a list of
mappings by `name` or `key`, else their positions), and a loop over a play variable taken from its value when
its items cannot name instances themselves."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.migrate.ansible_expressions import Rewriter

INSTANCE = re.compile(r"[A-Za-z0-9_:/@+-]{1,128}")  # what names an instance of a for_each
INVALID_IN_KEY = re.compile(r"[^A-Za-z0-9_:/@+-]")


def for_each(loop: Any, rewriter: Rewriter, play_vars: Mapping[str, Any]) -> Any:
    """A task's loop as a for_each: a fixed list, an expression, or the known value of a play variable."""
    if isinstance(loop, str):
        known = _known_list(loop, play_vars)
        plain = known is not None and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                          and INSTANCE.fullmatch(str(v)) for v in known)
        if known is None or plain:  # the expression stays: its items can name instances as they are
            return rewriter.template(loop, False)
        loop = known
    if not isinstance(loop, list):
        return None
    simple = all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in loop)
    if simple and all(INSTANCE.fullmatch(str(v)) for v in loop) and len({str(v) for v in loop}) == len(loop):
        return list(loop)
    for key in ("name", "key"):  # people by name; dict2items entries by key
        keyed = {str(v.get(key)): v for v in loop if isinstance(v, dict) and v.get(key) is not None}
        if len(keyed) == len(loop):
            named = {INVALID_IN_KEY.sub("-", k)[:128]: v for k, v in keyed.items()}
            if len(named) == len(loop):
                return named
    return {str(i): v for i, v in enumerate(loop)}

def _known_list(loop: str, play_vars: Mapping[str, Any]) -> list[Any] | None:
    """A loop over a play variable (`{{ people }}`, `{{ settings | dict2items }}`) is over its known value: a
    spec's for_each then names each instance (reconcile's for_each takes no list of mappings as such)."""
    found = re.fullmatch(r"\s*{{\s*(\w+)\s*(\|\s*dict2items\s*)?}}\s*", loop)
    if found is None or found.group(1) not in play_vars:
        return None
    value = play_vars[found.group(1)]
    if found.group(2):
        return [{"key": k, "value": v} for k, v in value.items()] if isinstance(value, dict) else None
    return list(value) if isinstance(value, list) else None
