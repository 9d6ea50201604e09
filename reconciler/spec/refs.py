"""`${type.name.attribute}` references between resources: parsing, finding and substituting them."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import JsonPath
from reconciler.errors import ReconcileError
from reconciler.model import UNKNOWN

_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
# name, then [KEY] (for_each/count), [host] (group fan-out) or both: [KEY][host]
_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)(?:\[(?P<host>[^\]]+(?:\]\[[^\]]+)?)\])?$")


@dataclass(frozen=True)
class Reference:
    type: str
    name: str
    host: str | None
    attribute: tuple[str, ...]  # first item is the attribute; the rest index into its value
    scope: str = ""  # "component.web." for a resource of a component

    @property
    def base_address(self) -> str:
        return f"{self.scope}{self.type}.{self.name}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.host else ""
        return "${" + f"{self.base_address}{host}.{'.'.join(self.attribute)}" + "}"


COMPONENT = "component"


def split_scope(parts: list[str]) -> tuple[str, list[str]]:
    """The leading `component.NAME.` pairs of a dotted address, and what follows them."""
    scope = ""
    while len(parts) > 2 and parts[0] == COMPONENT:
        scope += f"{COMPONENT}.{parts[1]}."
        parts = parts[2:]
    return scope, parts


def parse(text: str, types: Collection[str]) -> Reference:
    """Parse the inside of `${…}`. Raises ValueError with a message for the user."""
    scope, parts = split_scope(text.strip().split("."))
    if scope and len(parts) < 3:
        raise ValueError(f"${{{text}}} reads an output of a component that has none by that name")
    for width in (3, 2, 1):  # "aws.vpc.main.id" and "data.aws.ami.x.id" have dotted types; "file.cfg.path" not
        kind = ".".join(parts[:width])
        if kind in types and len(parts) > width + 1:
            m = _NAME.match(parts[width])
            if not m:
                break
            return Reference(kind, m["name"], m["host"], tuple(parts[width + 1 :]), scope)
    if len(parts) < 3:
        raise ValueError(f"reference ${{{text}}} must be written ${{type.name.attribute}}")
    raise ValueError(f"reference ${{{text}}} names an unknown resource type")


def has_reference(value: str) -> bool:
    return "${" in value


def find(value: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, str]]:
    """Every `${…}` text inside `value` (escaped `$${…}` excluded), with its JSON path."""
    if isinstance(value, str):
        if "${" in value:
            for m in _REF.finditer(value):
                if not m.group(1):
                    yield path, m.group(2)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from find(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from find(v, path + (i,))


_OPEN = re.compile(r"(?<!\$)\$\{")


def unterminated(value: Any, path: JsonPath = ()) -> Iterator[JsonPath]:
    """Paths of strings with a `${` that no `}` closes (escaped `$${` excluded)."""
    if isinstance(value, str):
        if "${" in value:
            for m in _OPEN.finditer(value):
                if "}" not in value[m.end():]:
                    yield path
                    return
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from unterminated(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from unterminated(v, path + (i,))


def unescape(value: Any) -> Any:
    """`$${X}` written to mean a literal `${X}` (e.g. for a shell or a compose file), as the engine passes it."""
    if isinstance(value, str):
        return value.replace("$${", "${") if "$${" in value else value
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value


def has_escape(value: Any) -> bool:
    if isinstance(value, str):
        return "$${" in value
    if isinstance(value, dict):
        return any(has_escape(v) for v in value.values())
    if isinstance(value, list):
        return any(has_escape(v) for v in value)
    return False


def contains_reference(value: Any) -> bool:
    return next(find(value), None) is not None


def substitute(value: Any, lookup: Callable[[str], Any]) -> Any:
    """Replace references by `lookup(inner_text)`; a whole-string reference keeps the value's type.

    If any looked-up value is UNKNOWN, the string containing it becomes UNKNOWN.
    """
    if isinstance(value, str):
        if "${" not in value:
            return value
        whole = _REF.fullmatch(value)
        if whole and not whole.group(1):
            return lookup(whole.group(2))
        unknown = False

        def repl(m: re.Match[str]) -> str:
            nonlocal unknown
            if m.group(1):
                return "${" + m.group(2) + "}"
            got = lookup(m.group(2))
            if got is UNKNOWN:
                unknown = True
                return ""
            return str(got)

        text = _REF.sub(repl, value)
        return UNKNOWN if unknown else text
    if isinstance(value, dict):
        return {k: substitute(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, lookup) for v in value]
    return value


class ReferenceProblem(ReconcileError):
    """A reference whose path does not fit the value it reads (an index into a scalar, a missing key).
    `key`: the attribute it was written in, when known."""

    key: str | None = None


def dig(value: Any, keys: tuple[str, ...], shown: str = "the reference") -> Any:
    """Index into nested dicts/lists by the rest of a reference's attribute path."""
    for key in keys:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(value, list):
            if not key.isdigit():
                raise ReferenceProblem(f"{shown}: {key!r} is not an index of a list of {len(value)} items")
            if int(key) >= len(value):
                raise ReferenceProblem(f"{shown}: index {key} is out of range (the list has {len(value)} items)")
            value = value[int(key)]
        elif isinstance(value, dict):
            if key not in value:
                keys_text = ", ".join(sorted(map(str, value))[:10]) or "none"
                raise ReferenceProblem(f"{shown}: no key {key!r} (keys: {keys_text})")
            value = value[key]
        else:
            kind = "text" if isinstance(value, str) else type(value).__name__
            raise ReferenceProblem(f"{shown}: cannot look up {key!r} in a {kind} value")
    return value


_NOTIFY = re.compile(r"^(?P<address>.+?)\s*:\s*(?P<action>[a-z_]+)$")


def parse_notify(entry: str) -> tuple[str, str]:
    """A `notify:` entry: `"service.nginx: reload"` -> ("service.nginx", "reload"); `"command.x"` ->
    ("command.x", "") (the receiver's default action)."""
    match = _NOTIFY.match(entry.strip())
    return (match["address"], match["action"]) if match else (entry.strip(), "")
