"""Reading Ansible task arguments, for `from_ansible` of the server types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Ansible's spellings of true and false in task arguments ("yes", "on", "1"…)
_TRUE = {"yes", "true", "on", "1", "y"}
_FALSE = {"no", "false", "off", "0", "n"}


def flag(value: Any) -> Any:
    """A boolean argument as a boolean (a template stays as written)."""
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    return value


def mode(value: Any) -> Any:
    """Ansible's mode ("0644", "644", 0o644 as YAML read it): the four-digit text the spec takes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04o}"
    if isinstance(value, str) and value.isdigit():
        return value.rjust(4, "0")
    return value


def ownership(args: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: args[k] for k in ("owner", "group") if args.get(k) is not None}
    if args.get("mode") is not None:
        out["mode"] = mode(args["mode"])
    return out


def path_of(args: Mapping[str, Any]) -> Any:
    """`path`, or its aliases `dest` and `name`."""
    return args.get("path", args.get("dest", args.get("name")))


PATH_KEYS = ("path", "dest", "name")
OWNERSHIP_KEYS = ("owner", "group", "mode")
