"""`cron`: a named entry in a user's crontab, marked by a `# reconcile: NAME` comment line; other
entries are left alone. All managed users' crontabs on a host are read in one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from reconciler.capabilities import AnsibleTasks, BatchApply, Deferrable
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, command_read

MARK = "# reconcile: "
SEPARATOR = "=====reconcile-crontab====="
# For each user in "$@": "SEPARATOR user ok|none|error", then the crontab (ok) or crontab's message (error).
# "no crontab for USER" is an empty crontab; any other failure is an error, never read as empty (the next
# write would otherwise drop the user's other jobs).
READ = f"""t=$(mktemp) e=$(mktemp); trap 'rm -f "$t" "$e"' EXIT
for u in "$@"; do
  if crontab -l -u "$u" >"$t" 2>"$e"; then echo "{SEPARATOR} $u ok"; cat "$t"
  elif grep -qi "no crontab for" "$e"; then echo "{SEPARATOR} $u none"
  else echo "{SEPARATOR} $u error"; cat "$e"; fi
done"""


def declared(resource: Resource | None) -> tuple[str, int, int, str]:
    """Where the spec declares a resource, to order what it adds as written."""
    if resource is None:
        return ("", 0, 0, "")
    where = resource.location
    return (where.file, where.line, where.col, resource.address) if where is not None else ("", 0, 0, resource.address)


def parse_crontabs(text: str, users: Sequence[str], host: str = "") -> dict[str, str]:
    """The output of READ as user -> crontab text; a user whose crontab could not be read is an error."""
    tabs: dict[str, list[str]] = {}
    status: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line.startswith(SEPARATOR + " "):
            current, _, state = line[len(SEPARATOR) + 1:].rpartition(" ")
            tabs[current], status[current] = [], state
        elif current is not None:
            tabs[current].append(line)
    for user in users:
        if status.get(user) == "error" or user not in status:
            why = " ".join(tabs.get(user, [])).strip() or "no answer"
            raise ModuleError(f"cannot read the crontab of {user} on {host}: {why}")
    return {u: "".join(x + "\n" for x in tabs.get(u, [])) for u in users}


def entry_line(resource: Resource) -> str:
    if resource.get("special"):
        when = f"@{resource.get('special')}"
    else:
        when = " ".join(str(resource.get(k, "*")) for k in ("minute", "hour", "day", "month", "weekday"))
    return f"{when} {resource.get('job')}"


def cron_user(resource: Resource) -> str:
    return str(resource.get("user") or "root")


def _job_follows(lines: list[str], i: int) -> bool:
    """Whether the line after the marker at `i` is its job (not gone: a hand-deleted job leaves the marker
    followed by the next entry's marker, a comment, or nothing)."""
    return i + 1 < len(lines) and not lines[i + 1].startswith("#") and bool(lines[i + 1].strip())


def find_entry(crontab: str, name: str) -> str | None:
    lines = crontab.splitlines()
    for i, line in enumerate(lines):
        if line == MARK + name and _job_follows(lines, i):
            return lines[i + 1]
    return None


def with_entry(crontab: str, name: str, line: str | None) -> str:
    """The crontab with entry `name` set to `line` (None: removed). Pure. Another entry, or a comment, after a
    marker whose job line was deleted by hand is left as it is."""
    out, lines, i, done = [], crontab.splitlines(), 0, False
    while i < len(lines):
        if lines[i] == MARK + name:
            i += 2 if _job_follows(lines, i) else 1
            if line is not None and not done:
                out += [MARK + name, line]
                done = True
            continue
        out.append(lines[i])
        i += 1
    if line is not None and not done:
        out += [MARK + name, line]
    return "".join(x + "\n" for x in out)


class CronModule(Module[Target], AnsibleTasks, BatchApply, Deferrable):
    type_name = "cron"
    ansible_modules = ("cron",)
    ansible_step = "owned"

    def locate(self, resource: Resource) -> str | None:
        return f"cron job {resource.name} of {resource.get('user') or 'root'}"

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        taken = ansible_args(module, args, ("name", "job", "minute", "hour", "day", "month", "weekday", "user",
                                            "state", "special_time"))
        out: dict[str, Any] = {k: taken[k] for k in ("job", "minute", "hour", "day", "month", "weekday", "user", "state")
               if k in taken}
        if "special_time" in taken:
            out["special"] = taken["special_time"]
        return out

    not_compared = frozenset({"state", "user", "job", "minute", "hour", "day", "month", "weekday", "special"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        return {"entry": entry_line(resource)}

    def _crontabs(self, target: Target, users: Sequence[str]) -> dict[str, str]:
        text = target.run(["sh", "-c", READ, "sh", *users], idempotent=True).check().stdout.decode()
        return parse_crontabs(text, users, target.name)

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [command_read(["sh", "-c", READ, "sh", *sorted({cron_user(r) for r in resources})])]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        tabs = self._crontabs(target, sorted({cron_user(r) for r in resources}))
        out: dict[str, Observed | None] = {}
        for r in resources:
            found = find_entry(tabs[cron_user(r)], r.name)
            out[r.address] = None if found is None else Observed({"entry": found})
        return out

    def _set(self, target: Target, r: Resource, line: str | None) -> None:
        user = cron_user(r)
        with target.lock(f"crontab:{user}"):
            current = self._crontabs(target, [user])[user]
            new = with_entry(current, r.name, line)
            if new != current:
                target.run(["crontab", "-u", user, "-"], stdin=new.encode()).check()

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        self._set(target, r, entry_line(r))
        return Observed(self.desired(r))


    def apply_many(self, target: Target, changes: Sequence[Change]) -> Mapping[str, Observed]:
        """Entries added in the order the spec declares them, as Ansible adds them in task order."""
        ordered = sorted((c for c in changes if c.resource is not None), key=lambda c: declared(c.resource))
        users = sorted({cron_user(c.resource) for c in ordered if c.resource is not None})
        with ExitStack() as held:
            for user in users:
                held.enter_context(target.lock(f"crontab:{user}"))
            tabs = self._crontabs(target, users)  # every crontab read before any is written
            for user in users:
                new = current = tabs[user]
                for change in ordered:
                    r = change.resource
                    if r is not None and cron_user(r) == user:
                        new = with_entry(new, r.name, entry_line(r))
                if new != current:
                    target.run(["crontab", "-u", user, "-"], stdin=new.encode()).check()
        return {c.address: Observed(self.desired(c.resource)) for c in ordered if c.resource is not None}

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        self._set(target, resource, None)
