"""How a container's settings are written for the engine's API: commands, ports, volumes, networks, health
checks, restart policies and the digest of an environment."""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .common import parse_duration_ns


def as_text(value: Any) -> str:
    """An environment value as the process will see it: YAML's true/false, not Python's True/False."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def argv_of(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def port_bindings(values: Sequence[Any]) -> list[str]:
    out = []
    for value in values:
        spec, _, proto = str(value).partition("/")
        parts = spec.split(":")
        ip, host, cont = (["0.0.0.0"] + parts) if len(parts) == 2 else parts
        out.append(f"{ip or '0.0.0.0'}:{host}:{cont}/{proto or 'tcp'}")
    return sorted(set(out))


def volume_binds(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        parts = str(value).split(":")
        if len(parts) == 3 and parts[2] == "rw":
            parts = parts[:2]
        out.append(":".join(parts))
    return sorted(out)


def network_aliases(values: Sequence[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        if isinstance(value, str):
            out[value] = []
        else:
            out[str(value["name"])] = sorted(str(a) for a in value.get("aliases") or [])
    return out


def healthcheck_config(value: Mapping[str, Any]) -> dict[str, Any]:
    test = value["test"]
    out: dict[str, Any] = {"test": ["CMD-SHELL", test] if isinstance(test, str) else [str(t) for t in test]}
    for key in ("interval", "timeout", "start_period"):
        if key in value:
            out[key] = parse_duration_ns(value[key])
    if "retries" in value:
        out["retries"] = int(value["retries"])
    return out


def restart_mode(value: str) -> str:
    return "no" if value in ("", "no", None) else value


def env_digest(env: Mapping[str, str]) -> dict[str, str]:
    return {"sha256": hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()}
