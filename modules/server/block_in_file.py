"""`block_in_file`: a block of lines between two marker lines in a file (Ansible's blockinfile).

The markers are `# BEGIN reconcile NAME` / `# END reconcile NAME` by default (`marker:` with `{mark}`
changes them). The block between them is replaced when it differs; without markers yet it is inserted
(at the end, or after/before the last line matching `insertafter`/`insertbefore`); `state: absent`
removes the markers and what they hold. Every other byte of the file stays as it was. All managed
files of a host are read in its one observation round trip."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable, ShowsText
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

from .ansible import PATH_KEYS, flag, mode, path_of
from .line_in_file import bare, edit_diffs, edit_in_place, split_lines


def markers(resource: Resource) -> tuple[bytes, bytes]:
    template = str(resource.get("marker") or f"# {{mark}} reconcile {resource.name}")
    return (template.replace("{mark}", str(resource.get("marker_begin") or "BEGIN")).encode(),
            template.replace("{mark}", str(resource.get("marker_end") or "END")).encode())


def block_lines(resource: Resource) -> list[bytes]:
    """The block's lines, each ending in \\n. As Ansible's blockinfile, lines are split at \\n only: a \\r
    before it stays part of its line (a CRLF block in an LF file keeps its CRLF lines)."""
    text = str(resource.get("block") or "")
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    return [line.encode() + b"\n" for line in pieces]


def _ending(lines: list[bytes]) -> bytes:
    return b"\r\n" if lines and lines[-1].endswith(b"\r\n") else b"\n"


def _content(line: bytes, ending: bytes) -> bytes:
    """A line without its ending: the file's own (\\r\\n in a CRLF file), else just \\n."""
    if line.endswith(ending):
        return line[:-len(ending)]
    return line[:-1] if line.endswith(b"\n") else line


def current_block(resource: Resource, data: bytes) -> str | None:
    """The text between the markers, or None when the file has no (complete) block."""
    begin, end = markers(resource)
    lines = split_lines(data)
    found = [i for i, x in enumerate(lines) if bare(x) == begin], [i for i, x in enumerate(lines) if bare(x) == end]
    if not found[0] or not found[1] or found[1][-1] < found[0][-1]:
        return None
    start, stop = found[0][-1], next(i for i in found[1] if i > found[0][-1])
    ending = _ending(lines)
    return "".join(_content(x, ending).decode(errors="replace") + "\n" for x in lines[start + 1:stop])


def with_block(resource: Resource, data: bytes, present: bool) -> bytes:
    """The file's new bytes: the block written (or removed) between its markers. Pure."""
    begin, end = markers(resource)
    lines = split_lines(data)
    starts = [i for i, x in enumerate(lines) if bare(x) == begin]
    start = starts[-1] if starts else -1
    stop = next((i for i, x in enumerate(lines) if i > start >= 0 and bare(x) == end), -1)
    ending = _ending(lines)
    new = [begin + ending] + [b[:-1] + ending for b in block_lines(resource)] + [end + ending]
    if start >= 0 and stop >= 0:
        return b"".join(lines[:start] + (new if present else []) + lines[stop + 1:])
    if not present:
        return data
    after, before = resource.get("insertafter"), resource.get("insertbefore")
    position = len(lines)
    if before == "BOF" or after == "BOF":
        position = 0
    elif after not in (None, "EOF") or before is not None:
        pattern = str(after if after not in (None, "EOF") else before)
        hits = [i for i, x in enumerate(lines) if re.search(pattern, bare(x).decode(errors="replace"))]
        if hits:
            position = hits[-1] + 1 if after not in (None, "EOF") else hits[-1]
    if position == len(lines) and lines and not lines[-1].endswith(b"\n"):
        lines[-1] += ending
    return b"".join(lines[:position] + new + lines[position:])


class BlockInFileModule(Module[Target], AnsibleTasks, ShowsText, Deferrable):
    type_name = "block_in_file"

    def text_diffs(self, target: Target, changes: Sequence[Change], context: int = 3) -> Mapping[str, str]:
        return edit_diffs(target, changes, with_block, context)
    ansible_modules = ("blockinfile",)

    def locate(self, resource: Resource) -> str | None:
        return f"a block of {resource.get('path')}"

    def physical_key(self, resource: Resource) -> str | None:
        return f"the block {markers(resource)[0].decode(errors='replace')!r} of {resource.get('path')}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, (*PATH_KEYS, "block", "content", "marker", "marker_begin", "marker_end",
                                            "state", "insertafter", "insertbefore", "create", "mode"))
        out: dict[str, Any] = {"path": path_of(taken)}
        if "block" in taken or "content" in taken:
            out["block"] = taken.get("block", taken.get("content"))
        out.update({k: taken[k] for k in ("marker", "marker_begin", "marker_end", "state", "insertafter",
                                          "insertbefore") if k in taken})
        if "create" in taken:
            out["create"] = flag(taken["create"])
        if "mode" in taken:
            out["mode"] = mode(taken["mode"])
        return out

    not_compared = frozenset({"state", "path", "marker", "marker_begin", "marker_end", "insertafter", "insertbefore",
                              "create", "mode"})

    def path(self, resource: Resource) -> str | None:
        value = resource.get("path")
        return value if isinstance(value, str) else None

    def state_of(self, resource: Resource) -> str:
        """An empty block is no block (as Ansible's blockinfile): its markers go too."""
        state = super().state_of(resource)
        return "absent" if state == "present" and not str(resource.get("block") or "").strip("\n") else state

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """A block holding one of its own marker lines would grow on every apply: refused at its line."""
        probe = Resource(address="", type=self.type_name, name="", target="local",
                         attributes=attributes)
        begin, end = markers(probe) if attributes.get("marker") else (b"", b"")
        lines = {line.rstrip(b"\r\n") for line in block_lines(probe)}
        for marker in (begin, end):
            if marker and marker in lines:
                raise load.fail(f"block holds its own marker line {marker.decode()!r}: it would grow on every apply")
        if any(line.startswith(b"# BEGIN reconcile ") or line.startswith(b"# END reconcile ") for line in lines):
            raise load.fail("block holds a reconcile marker line: it would grow on every apply")
        return attributes

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"block": "".join(b.decode() for b in block_lines(resource))} if self.state_of(resource) == "present" else {}

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead(tuple(str(r.get("path")) for r in resources), follow=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        contents = target.read_many([r.get("path") for r in resources], follow=True)
        kinds = target.stat_many([str(r.get("path")) for r in resources if contents.get(r.get("path")) is None],
                                 hash_files=False)
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            data = contents.get(r.get("path"))
            kind = kinds.get(str(r.get("path")))
            if data is None and kind is not None and kind.kind != "file":
                out[r.address] = Unobservable(f"{r.get('path')} is a {kind.kind}, not a file")
                continue
            found = current_block(r, data) if data is not None else None
            out[r.address] = None if found is None else Observed({"block": found})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        self._edit(target, r, present=True)
        return Observed({"block": self.desired(r)["block"]})

    def _edit(self, target: Target, r: Resource, present: bool) -> None:
        edit_in_place(target, r, present, lambda data: with_block(r, data, present))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        self._edit(target, resource, present=False)
