"""`mount`: a filesystem's /etc/fstab entry and whether it is mounted (Ansible's mount states):
`mounted` (in fstab and mounted), `present` (in fstab only), `unmounted` (in fstab, not mounted) and
`absent` (neither). The entry is found by its mount point; other fstab lines keep their bytes. Changed
options of a mounted filesystem are applied with a remount, a changed source or type with umount and
mount. Observed in the host's one round trip (/etc/fstab and /proc/mounts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read

FSTAB, MOUNTS = "/etc/fstab", "/proc/mounts"


def escape(field: str) -> str:
    return field.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def entries(text: str) -> dict[str, list[str]]:
    """mount point -> its fields (source, point, type, options, dump, pass), the last entry winning."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and not fields[0].startswith("#"):
            out[unescape(fields[1])] = [unescape(f) for f in fields]
    return out


def fstab_line(r: Resource) -> str:
    return " ".join([escape(str(r.get("src"))), escape(str(r.get("path"))), str(r.get("fstype")),
                     str(r.get("opts") or "defaults"), str(r.get("dump") or 0), str(r.get("passno") or 0)])


def with_entry(text: str, path: str, line: str | None) -> str:
    """fstab with the entry of `path` replaced by `line` (None: removed), other lines untouched."""
    lines, done = [], False
    for old in text.splitlines():
        fields = old.split()
        if len(fields) >= 2 and not fields[0].startswith("#") and unescape(fields[1]) == path:
            if line is not None and not done:
                lines.append(line)
                done = True
            continue
        lines.append(old)
    if line is not None and not done:
        lines.append(line)
    return "".join(x + "\n" for x in lines)


class MountModule(Module[Target], AnsibleTasks):
    type_name = "mount"
    ansible_modules = ("mount", "ansible.posix.mount")
    ansible_step = "setting"
    default_state = "mounted"
    absent_states = frozenset({"absent"})

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("path", "name", "src", "fstype", "opts", "state", "dump", "passno"))
        out: dict[str, Any] = {"path": taken.get("path", taken.get("name"))}
        out.update({k: taken[k] for k in ("src", "fstype", "opts", "state", "dump", "passno") if k in taken})
        return out

    not_compared = frozenset({"state", "path", "dump", "passno"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"mount {resource.get('path')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        state = self.state_of(resource)
        entry = {"fstab": fstab_line(resource)}
        if state == "mounted":
            return {**entry, "mounted": f"{resource.get('src')} {resource.get('fstype')}"}
        if state == "unmounted":
            return {**entry, "mounted": None}
        return entry

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [ContentRead((FSTAB,)), ContentRead((MOUNTS,), follow=True)]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        fstab = entries((target.read_many([FSTAB]).get(FSTAB) or b"").decode(errors="replace"))
        mounts = entries((target.read_many([MOUNTS], follow=True).get(MOUNTS) or b"").decode(errors="replace"))
        out: dict[str, Observed | None] = {}
        for r in resources:
            path = str(r.get("path"))
            listed, live = fstab.get(path), mounts.get(path)
            if listed is None and live is None:
                out[r.address] = None
                continue
            line = " ".join([escape(listed[0]), escape(listed[1]), *listed[2:4], *(listed[4:6] or ["0", "0"])]) \
                if listed else None
            out[r.address] = Observed({"fstab": line, "mounted": f"{live[0]} {live[2]}" if live else None},
                                      identity={"options": live[3] if live else ""})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        path, state = str(r.get("path")), self.state_of(r)
        self._fstab(target, path, fstab_line(r))
        was = change.observed.attributes.get("mounted") if change.observed is not None else None
        want = f"{r.get('src')} {r.get('fstype')}"
        if state == "mounted":
            if was is not None and was != want:
                target.run(["umount", "--", path]).check()
                was = None
            if was is None:
                target.make_directory(path)
                target.run(["mount", "--", path]).check()
            elif any(d.name == "fstab" for d in change.diffs):  # options changed: remount with the new ones
                target.run(["mount", "-o", f"remount,{r.get('opts') or 'defaults'}", "--", path]).check()
        elif state == "unmounted" and was is not None:
            target.run(["umount", "--", path]).check()
        return Observed(self.desired(r))

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        path = str(resource.get("path"))
        if observed.attributes.get("mounted"):
            target.run(["umount", "--", path]).check()
        self._fstab(target, path, None)

    @staticmethod
    def _fstab(target: Target, path: str, line: str | None) -> None:
        with target.lock(f"file:{FSTAB}"):
            current = target.read_many([FSTAB]).get(FSTAB)
            text = with_entry((current or b"").decode(errors="replace"), path, line)
            if text.encode() != (current or b""):
                target.write_file(FSTAB, text.encode(), mode="0644" if current is None else None)
