"""`line_in_file`: make sure a line is in a file (or that the last line matching `regexp` becomes it), or
that no such line is there. Ansible's lineinfile rules:

- the exact `line` already present means no change, whatever `regexp` matches;
- else the last line `regexp` matches is replaced (keeping that line's own ending), else the line is
  appended (after adding the missing final newline, with the file's own line ending);
- every other byte of the file is kept as it was (CRLF, form feeds, a missing final newline);
- a path that is a symlink edits the file the link points to.

Every managed file on a host is read in one round trip."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable, ShowsText
from reconciler.errors import ModuleError
from reconciler.model import Action, Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

from .ansible import PATH_KEYS, flag, mode, path_of


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their endings; only \\n ends a line (as Ansible's readlines), nothing is normalised."""
    return [part for part in re.split(b"(?<=\n)", data) if part]


def bare(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def _search(pattern: str | None, line: bytes) -> re.Match[str] | None:
    return re.search(pattern, bare(line).decode("utf-8", errors="surrogateescape")) if pattern else None


def matches(resource: Resource, line: bytes) -> bool:
    pattern = resource.get("regexp")
    if pattern:
        return _search(pattern, line) is not None
    return bool(bare(line).decode("utf-8", errors="surrogateescape") == resource.get("line"))


def edited(resource: Resource, data: bytes, present: bool) -> bytes:
    """The file's new bytes, by Ansible's lineinfile rules: pure, so it is unit-testable."""
    lines = split_lines(data)
    line = str(resource.get("line") or "")
    if not present:
        return b"".join(x for x in lines if not matches(resource, x))
    regexp, backrefs = resource.get("regexp"), bool(resource.get("backrefs"))
    after, before = resource.get("insertafter"), resource.get("insertbefore")
    first = bool(resource.get("firstmatch"))
    want = line.encode("utf-8", errors="surrogateescape")
    if not backrefs and any(bare(x) == want for x in lines):
        return data  # the exact line is there: nothing to do, whatever regexp matches
    found, match, anchor = -1, None, -1
    anchor_pattern = after if after not in (None, "BOF", "EOF") else before if before not in (None, "BOF") else None
    for i, x in enumerate(lines):
        m = _search(regexp, x) if regexp else None
        if m is not None:
            found, match = i, m
        elif anchor_pattern and (anchor < 0 or not first) and _search(anchor_pattern, x) is not None:
            anchor = i + 1 if after not in (None, "BOF", "EOF") else i
    ending = b"\r\n" if lines and lines[-1].endswith(b"\r\n") else b"\n"
    if found >= 0:  # the last line the regexp matches becomes the line (its own ending kept)
        text = match.expand(line) if backrefs and match is not None else line
        new = text.encode("utf-8", errors="surrogateescape")
        old = lines[found]
        lines[found] = new + (old[len(bare(old)):] or ending)
        return b"".join(lines)
    if backrefs:
        return data  # backrefs and no match: nothing changes
    new = want + ending
    if before == "BOF" or after == "BOF":
        return new + data
    if after in (None, "EOF") and before is None or anchor < 0:
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            lines[-1] += ending
        return b"".join(lines) + new
    lines.insert(anchor, new)
    return b"".join(lines)


def edit_diffs(target: Target, changes: Sequence[Change], edit: Callable[[Resource, bytes, bool], bytes],
               context: int = 3) -> dict[str, str]:
    """For plans: the unified diff of each change's edit of its file (as Ansible's --check --diff shows a
    lineinfile), the files read in one batch; a file that is no UTF-8 text shows nothing."""
    wanted = [c for c in changes if c.resource is not None and c.resource.get("path")]
    contents = target.read_many([str(c.resource.get("path")) for c in wanted if c.resource is not None], follow=True)
    out: dict[str, str] = {}
    for change in wanted:
        r = change.resource
        assert r is not None
        path = str(r.get("path"))
        before = contents.get(path) or b""
        after = edit(r, before, change.action is not Action.DELETE)
        try:
            old, new = before.decode("utf-8"), after.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if old != new:
            out[change.address] = "".join(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{path} (on {target.name})", f"{path} (the spec)",
                n=max(0, context)))
    return out


def edit_in_place(target: Target, r: Resource, present: bool, edit: Callable[[bytes], bytes]) -> None:
    """Read `r`'s file (through a symlink), apply `edit` and write it back when it changed, under the
    file's lock, so line and block edits of one file never lose each other's changes. A missing file is
    created only with `create: true` (and left alone when the edit removes something)."""
    path = r.get("path")
    with target.lock(f"file:{path}"):
        current = target.read_many([path], follow=True).get(path)
        if current is None and not present:
            return
        if current is None and not r.get("create"):
            raise ModuleError(f"{path} does not exist on {target.name} (set create: true to create it)")
        data = edit(current or b"")
        if data != current:
            target.write_file(path, data, mode=r.get("mode") if current is None else None, follow=True)


class LineInFileModule(Module[Target], AnsibleTasks, ShowsText, Deferrable):
    type_name = "line_in_file"

    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        return edit_diffs(target, changes, edited, context)
    ansible_modules = ("lineinfile",)

    def locate(self, resource: Resource) -> str | None:
        return f"a line of {resource.get('path')}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, (*PATH_KEYS, "line", "regexp", "state", "insertafter", "insertbefore",
                                            "create", "backrefs", "firstmatch", "mode"))
        out: dict[str, Any] = {"path": path_of(taken)}
        out.update({k: taken[k] for k in ("line", "regexp", "state", "insertafter", "insertbefore") if k in taken})
        out.update({k: flag(taken[k]) for k in ("create", "backrefs", "firstmatch") if k in taken})
        if "mode" in taken:
            out["mode"] = mode(taken["mode"])
        return out

    not_compared = frozenset({"state", "path", "regexp", "create", "mode", "insertafter", "insertbefore", "backrefs",
                              "firstmatch"})

    def path(self, resource: Resource) -> str | None:
        value = resource.get("path")
        return value if isinstance(value, str) else None


    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"line": resource.get("line")} if self.state_of(resource) == "present" else {}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead(tuple(str(r.get("path")) for r in resources), follow=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        contents = target.read_many([r.get("path") for r in resources], follow=True)
        out: dict[str, Observed | None] = {}
        for r in resources:
            data = contents.get(r.get("path"))
            if data is None:
                out[r.address] = None
                continue
            if self.state_of(r) != "present":
                found = [bare(x).decode(errors="replace") for x in split_lines(data) if matches(r, x)]
                out[r.address] = Observed({"line": found[-1], "file_exists": True}) if found else None
            elif edited(r, data, True) == data:
                out[r.address] = Observed({"line": r.get("line"), "file_exists": True})
            else:  # a regexp match to be replaced, else nothing yet (the line will be added)
                hits = [bare(x).decode(errors="replace") for x in split_lines(data)
                        if r.get("regexp") and matches(r, x)]
                out[r.address] = Observed({"line": hits[-1], "file_exists": True}) if hits else None
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        self._edit(target, r, present=True)
        return Observed({"line": r.get("line")})

    def _edit(self, target: Target, r: Resource, present: bool) -> None:
        edit_in_place(target, r, present, lambda data: edited(r, data, present))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        self._edit(target, resource, present=False)
