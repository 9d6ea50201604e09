"""`line_in_file`: make sure a line is in a file (or a line matching `regexp` is replaced by it), or absent.

Other lines are left alone. Every managed file on a host is read in one round trip."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.base import Target

from .edits import EditLocks


def matches(resource: Resource, line: str) -> bool:
    pattern = resource.get("regexp")
    return bool(re.search(pattern, line)) if pattern else line == resource.get("line")


def edited(resource: Resource, text: str, present: bool) -> str:
    """The file's new text: pure, so it is unit-testable."""
    lines = text.splitlines()
    want = resource.get("line")
    if not present:
        kept = [line for line in lines if not matches(resource, line)]
    else:
        hits = [i for i, line in enumerate(lines) if matches(resource, line)]
        kept = list(lines)
        if hits:
            kept[hits[-1]] = want  # the last match is replaced, like Ansible's lineinfile
        else:
            kept.append(want)
    return "".join(line + "\n" for line in kept)


class LineInFileModule(Module):
    type_name = "line_in_file"
    not_compared = frozenset({"state", "path", "regexp", "create", "mode"})

    def __init__(self) -> None:
        self.locks = EditLocks()

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"line": resource.get("line")} if self.state_of(resource) == "present" else {}

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        contents = target.read_many([r.get("path") for r in resources])
        out: dict[str, Observed | None] = {}
        for r in resources:
            text = contents.get(r.get("path"))
            found = [line for line in (text or b"").decode().splitlines() if matches(r, line)]
            if not found:
                out[r.address] = None
            else:
                # one exact line present, or the line a regexp matches today (several: not settled yet)
                exact = [f for f in found if f == r.get("line")]
                settled = exact and (not r.get("regexp") or len(found) == 1)
                out[r.address] = Observed({"line": r.get("line") if settled else found[-1],
                                           "file_exists": text is not None})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        self._edit(target, r, present=True)
        return Observed({"line": r.get("line")})

    def _edit(self, target: Target, r: Resource, present: bool) -> None:
        path = r.get("path")
        with self.locks.lock(target, path):
            current = target.read_many([path]).get(path)
            if current is None and not present:
                return
            if current is None and not r.get("create"):
                raise ModuleError(f"{path} does not exist (set create: true to create it)")
            text = edited(r, (current or b"").decode(), present)
            if text.encode() != current:
                target.write_file(path, text.encode(), mode=r.get("mode") if current is None else None)

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        self._edit(target, resource, present=False)
