"""A play's task lists made flat, as Ansible runs them: `block:` (its keywords handed to each task; `always:`
after it; `rescue:` refused, since it runs only on a failure), `include_tasks`/`import_tasks` (the file
beside the including one, or in its role's tasks/), `include_role`/`import_role` and a play's `roles:` (the
role's tasks, handlers, defaults, vars, and its templates/ and files/ as the place its tasks look).

Each task comes out as a `TaskSite`: the task with what it inherits, the path that locates it (a path into
another file than the playbook starts with ("@", file)), and the directory its templates are looked up in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.diagnostics import JsonPath, Location
from reconciler.errors import ReconcileError, SpecError
from reconciler.migrate.ansible_text import as_list
from reconciler.spec.load import load_yaml_file

PREFIXES = ("ansible.builtin.", "ansible.legacy.")
INCLUDES = {"include_tasks", "import_tasks", "include"}
ROLES = {"include_role", "import_role"}
BLOCK_KEYWORDS = ("when", "become", "become_user", "environment", "no_log")  # handed from a block to its tasks
MAX_DEPTH = 16  # includes within includes: a file that includes itself is refused, not followed forever


@dataclass(frozen=True)
class TaskSite:
    path: JsonPath
    task: dict[str, Any]
    base: Path  # where its templates/ and files/ are looked up: its role's directory, else the playbook's
    role: str | None = None


@dataclass
class Role:
    name: str
    directory: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    handlers: list[tuple[JsonPath, dict[str, Any]]] = field(default_factory=list)


class TaskFiles:
    """Reads the files tasks come from, keeping each one's locations for file:line messages."""

    def __init__(self, playbook: Path, playbook_locations: Mapping[JsonPath, Location]):
        self.playbook = playbook
        self.locations: dict[str, Mapping[JsonPath, Location]] = {}
        self.playbook_locations = playbook_locations

    def locate(self, path: JsonPath) -> Location | None:
        locations, inner = self.playbook_locations, path
        if path[:1] == ("@",):
            locations, inner = self.locations.get(str(path[1]), {}), path[2:]
        for cut in range(len(inner), -1, -1):
            if inner[:cut] in locations:
                return locations[inner[:cut]]
        return None

    def load(self, file: Path) -> tuple[Any, JsonPath]:
        """A YAML file's content and the path prefix that locates its nodes."""
        key = str(file.resolve())
        data, locations = load_yaml_file(file)
        self.locations[key] = locations
        return data, ("@", key)


class TaskExpander:
    """Flattens task lists; what it cannot follow is handed to `refuse(path, reason)`."""

    def __init__(self, files: TaskFiles, refuse: Callable[[JsonPath, str], None]):
        self.files = files
        self.refuse = refuse
        self.roles: list[Role] = []
        self.skipped = 0  # tasks not followed (a rescue: section's)

    def tasks(self, tasks: Any, path: JsonPath, base: Path, here: Path, inherited: Mapping[str, Any] | None = None,
              role: str | None = None, depth: int = 0) -> Iterator[TaskSite]:
        """`here`: the directory of the file these tasks are in (includes are relative to it)."""
        if tasks is None:
            return
        if not isinstance(tasks, list):
            self.refuse(path, "a list of tasks is expected here")
            return
        for number, task in enumerate(tasks):
            at = path + (number,)
            if not isinstance(task, dict):
                self.refuse(at, "a task must be a mapping")
                continue
            yield from self._task(task, at, base, here, dict(inherited or {}), role, depth)

    def _task(self, task: dict[str, Any], at: JsonPath, base: Path, here: Path, inherited: dict[str, Any],
              role: str | None, depth: int) -> Iterator[TaskSite]:
        keys = {str(k).removeprefix(PREFIXES[0]).removeprefix(PREFIXES[1]): k for k in task}
        if "block" in task:
            handed = handed_down(inherited, task)
            yield from self.tasks(task["block"], at + ("block",), base, here, handed, role, depth)
            if task.get("rescue"):
                self.skipped += len(task["rescue"]) if isinstance(task["rescue"], list) else 1
                self.refuse(at + ("rescue",), "rescue: runs only when its block fails, and reconcile stops at a "
                                              "failure: its tasks are not converted")
            yield from self.tasks(task.get("always"), at + ("always",), base, here, handed, role, depth)
            return
        include = next((k for k in keys if k in INCLUDES), None)
        if include is not None:
            yield from self._include(task, keys[include], at, base, here, inherited, role, depth)
            return
        by_role = next((k for k in keys if k in ROLES), None)
        if by_role is not None:
            spec = task[keys[by_role]]
            spec = {"name": spec} if isinstance(spec, str) else spec
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                self.refuse(at + (keys[by_role],), f"{by_role}: name the role")
                return
            handed = handed_down(inherited, task)
            yield from self.role(spec["name"], at + (keys[by_role],), handed, depth + 1,
                                 str(spec.get("tasks_from") or "main"))
            return
        merged = dict(task)
        for key in BLOCK_KEYWORDS:
            if key in inherited:
                merged[key] = combined(key, inherited[key], task.get(key)) if key in task else inherited[key]
        yield TaskSite(at, merged, base, role)

    def _include(self, task: dict[str, Any], written: str, at: JsonPath, base: Path, here: Path,
                 inherited: dict[str, Any], role: str | None, depth: int) -> Iterator[TaskSite]:
        name = task[written]
        if isinstance(name, dict):
            name = name.get("file")
        if not isinstance(name, str) or "{{" in name:
            self.refuse(at + (written,), f"{written}: only a fixed file name is followed (not {name!r})")
            return
        if depth >= MAX_DEPTH:
            self.refuse(at + (written,), f"{written}: {name} includes files {MAX_DEPTH} deep (an include loop?)")
            return
        candidates = [here / name, base / "tasks" / name] if role else [here / name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            self.refuse(at + (written,), f"{written}: {name} not found (looked in {here})")
            return
        try:
            data, prefix = self.files.load(found)
        except (SpecError, ReconcileError) as exc:
            self.refuse(at + (written,), f"{written}: {name}: {exc}")
            return
        yield from self.tasks(data, prefix, base, found.parent, handed_down(inherited, task), role, depth + 1)

    def role(self, name: str, at: JsonPath, inherited: Mapping[str, Any] | None = None, depth: int = 0,
             tasks_from: str = "main") -> Iterator[TaskSite]:
        """A role's tasks, found as Ansible finds it (roles/NAME beside the playbook, then NAME beside it); its
        defaults, vars and handlers are kept in `self.roles`."""
        if depth >= MAX_DEPTH:
            self.refuse(at, f"role {name}: roles {MAX_DEPTH} deep (a role that includes itself?)")
            return
        base = self.files.playbook.parent
        directory = next((d for d in (base / "roles" / name, base / name) if (d / "tasks").is_dir()), None)
        if directory is None:
            self.refuse(at, f"role {name} not found (looked for roles/{name}/tasks beside the playbook)")
            return
        role = next((r for r in self.roles if r.directory == directory), None)
        if role is None:
            role = Role(name, directory)
            role.defaults = self._mapping(directory / "defaults", at, f"role {name}'s defaults")
            role.variables = self._mapping(directory / "vars", at, f"role {name}'s vars")
            handlers_file = main_file(directory / "handlers")
            if handlers_file is not None:
                try:
                    data, prefix = self.files.load(handlers_file)
                except (SpecError, ReconcileError) as exc:
                    self.refuse(at, f"role {name}'s handlers: {exc}")
                    data, prefix = None, ()
                for number, handler in enumerate(data if isinstance(data, list) else []):
                    if isinstance(handler, dict):
                        role.handlers.append((prefix + (number,), handler))
            self.roles.append(role)
        tasks_file = main_file(directory / "tasks", tasks_from)
        if tasks_file is None:
            return
        try:
            data, prefix = self.files.load(tasks_file)
        except (SpecError, ReconcileError) as exc:
            self.refuse(at, f"role {name}'s tasks: {exc}")
            return
        yield from self.tasks(data, prefix, directory, tasks_file.parent, inherited, name, depth)

    def _mapping(self, directory: Path, at: JsonPath, what: str) -> dict[str, Any]:
        found = main_file(directory)
        if found is None:
            return {}
        try:
            data, _ = self.files.load(found)
        except (SpecError, ReconcileError) as exc:
            self.refuse(at, f"{what}: {exc}")
            return {}
        if data is not None and not isinstance(data, dict):
            self.refuse(at, f"{what}: not a mapping of variables")
            return {}
        return dict(data or {})


def main_file(directory: Path, stem: str = "main") -> Path | None:
    return next((f for f in (directory / stem, directory / f"{stem}.yml", directory / f"{stem}.yaml")
                 if f.is_file()), None)


def handed_down(inherited: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
    """What a block (or an include) hands to the tasks inside it: its own keywords over the outer ones."""
    out = dict(inherited)
    for key in BLOCK_KEYWORDS:
        if key in task:
            out[key] = combined(key, inherited[key], task[key]) if key in inherited else task[key]
    return out


def combined(key: str, outer: Any, inner: Any) -> Any:
    """Conditions add up; an environment merges; the inner one wins for the rest."""
    if key == "when":
        return [*as_list(outer), *as_list(inner)]
    if key == "environment" and isinstance(outer, dict) and isinstance(inner, dict):
        return {**outer, **inner}
    return inner


@dataclass(frozen=True)
class PlaySites:
    tasks: list[TaskSite]
    handlers: list[TaskSite]
    skipped: int  # tasks not followed (rescue: sections)


def play_task_sites(expander: TaskExpander, here: Path, path: JsonPath, play: Mapping[str, Any],
                    play_vars: dict[str, Any], notes: list[str]) -> PlaySites:
    """The play's tasks in Ansible's order (pre_tasks, roles, tasks, post_tasks), blocks, includes and roles
    followed; its handlers and its roles'. Role parameters, vars and defaults join the play's variables."""
    sites = list(expander.tasks(play.get("pre_tasks"), path + ("pre_tasks",), here, here))
    for number, entry in enumerate(as_list(play.get("roles"))):
        at = path + ("roles", number)
        entry = {"role": entry} if isinstance(entry, str) else entry
        name = entry.get("role", entry.get("name")) if isinstance(entry, dict) else None
        if not isinstance(name, str) or "{{" in name:
            expander.refuse(at, "roles: an entry names a role (role: NAME)")
            continue
        params = {k: v for k, v in entry.items() if k not in ("role", "name", "tags", "vars", *BLOCK_KEYWORDS)}
        written = entry.get("vars")
        given: dict[str, Any] = dict(written) if isinstance(written, dict) else {}
        for key, value in {**params, **given}.items():
            _role_variable(play_vars, str(key), value, f"role {name}'s parameter", notes)
        sites += expander.role(name, at, handed_down({}, entry))
    for key in ("tasks", "post_tasks"):
        sites += expander.tasks(play.get(key), path + (key,), here, here)
    for role in expander.roles:
        for key, value in role.variables.items():
            _role_variable(play_vars, key, value, f"role {role.name}'s vars", notes)
        for key, value in role.defaults.items():
            play_vars.setdefault(key, value)
    handlers = list(expander.tasks(play.get("handlers"), path + ("handlers",), here, here))
    handlers += [TaskSite(p, h, role.directory, role.name) for role in expander.roles for p, h in role.handlers]
    return PlaySites(sites, handlers, expander.skipped)


def _role_variable(play_vars: dict[str, Any], key: str, value: Any, source: str, notes: list[str]) -> None:
    if key in play_vars and play_vars[key] != value:
        notes.append(f"variable {key}: {source} sets it too; the spec's vars keep one value ({play_vars[key]!r}), "
                     f"where Ansible would scope {value!r} to the role")
        return
    play_vars[key] = value
