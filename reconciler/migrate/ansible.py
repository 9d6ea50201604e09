"""`reconcile migrate ansible`: a playbook and its inventory become a reconcile spec.

The inventory (YAML or INI, with group_vars/ and host_vars/) becomes the spec's inline `inventory:`; each
play's tasks become resources `on:` the play's hosts, in the play's order (each depends on the one
before, as Ansible runs them); `loop`/`with_items` becomes `for_each`, `when` stays `when`, and handlers
become resources triggered by the resources that notify them. Which resource type takes a task is the
modules' call (`Module.ansible_modules` / `from_ansible`). Expressions are rewritten to reconcile's
names: `item` is `each.value`, `inventory_hostname` is `host.name`, host and group variables are
`host.vars.NAME`, facts (`ansible_os_family`, `ansible_facts['os_family']`…) are `host.facts.NAME`.
Every task that cannot be converted is listed with its file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.capabilities import AnsibleTasks
from reconciler.diagnostics import Diagnostic, JsonPath, Location
from reconciler.errors import ReconcileError, SpecError
from reconciler.inventory import Inventory
from reconciler.migrate.ansible_expressions import Rewriter
from reconciler.migrate.ansible_inventory import inline_inventory, read_inventory, valid_host_names
from reconciler.migrate.ansible_loops import for_each
from reconciler.migrate.ansible_shape import shaped, short_name
from reconciler.migrate.ansible_task_keys import (
    Refusal,
    arguments,
    module_of,
    truthy,
)
from reconciler.migrate.ansible_tasks import TaskExpander, TaskFiles, TaskSite, play_task_sites
from reconciler.migrate.ansible_templates import copy_template
from reconciler.migrate.ansible_text import as_list
from reconciler.module import NotConvertible
from reconciler.registry import Registry
from reconciler.spec.load import display_path, load_yaml_file


@dataclass(frozen=True)
class Unconverted:
    location: Location | None
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


@dataclass
class Conversion:
    inventory: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)  # path in the spec directory -> rewritten text
    unconverted: list[Unconverted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # addresses in the order Ansible would run their tasks
    tasks: int = 0  # tasks met (handlers when notified), the refused ones included
    converted: int = 0  # of those, the ones that became (or joined) a resource


def convert(playbook: Path, inventory_path: Path, registry: Registry) -> Conversion:
    try:
        plays, locations = load_yaml_file(playbook)
    except SpecError:
        raise
    if not isinstance(plays, list):
        raise SpecError([Diagnostic("a playbook is a list of plays", Location(display_path(playbook), 1, 1))])
    if plays and all(isinstance(p, dict) and "hosts" not in p and "import_playbook" not in p for p in plays):
        raise SpecError([Diagnostic(
            f"{display_path(playbook)} is a list of tasks, not of plays: a role's task file (tasks/main.yml) or an "
            "included one. Give the playbook that applies it (- hosts: web\n  roles: [NAME]), e.g. "
            f"`reconcile migrate ansible site.yml -i INVENTORY`", Location(display_path(playbook), 1, 1))])
    inventory, renamed = valid_host_names(read_inventory(inventory_path))
    converter = _Converter(playbook, locations, inventory, registry)
    converter.renamed = renamed
    for old, new in sorted(renamed.items()):
        converter.out.notes.append(f"host {old} is named {new} in the spec (a name has no dots); its address is "
                                   f"kept, and host.name reads {new} where Ansible's inventory_hostname read {old}")
    for index, play in enumerate(plays):
        converter.play(index, play)
    return converter.finish()


class _Converter:
    def __init__(self, playbook: Path, locations: Mapping[JsonPath, Location], inventory: Inventory,
                 registry: Registry):
        self.playbook, self.locations, self.inventory, self.registry = playbook, locations, inventory, registry
        self.files = TaskFiles(playbook, locations)
        self.text = playbook.read_text(encoding="utf-8", errors="replace")
        self.out = Conversion(inventory={})
        self.become_hosts: set[str] = set()
        self.users: dict[str, str] = {}  # host -> the login user a play's remote_user names
        self.rolling: dict[str, Any] = {}  # group -> serial, from a play's serial
        self.renamed: dict[str, str] = {}
        self.play_become = False
        self.play_vars: dict[str, Any] = {}
        self.names: set[str] = set()
        self.takers: dict[str, list[str]] = {}
        for type_name in registry.types:
            declared = registry.module_class(type_name)
            for name in declared.ansible_modules if issubclass(declared, AnsibleTasks) else ():
                self.takers.setdefault(name, []).append(type_name)
        host_vars = {k for h in inventory.hosts.values() for k in h.vars}
        self.host_var_names = host_vars

    def locate(self, path: JsonPath) -> Location | None:
        return self.files.locate(path)

    def refuse(self, path: JsonPath, reason: str) -> None:
        self.out.unconverted.append(Unconverted(self.locate(path), reason))

    def play(self, index: int, play: Any) -> None:
        path: JsonPath = (index,)
        if not isinstance(play, dict):
            self.refuse(path, "a play must be a mapping")
            return
        if "import_playbook" in play:
            self.refuse(path, "import_playbook: convert that playbook on its own")
            return
        pattern = play.get("hosts")
        if isinstance(pattern, str):
            pattern = self.renamed.get(pattern, pattern)
        hosts = self.inventory.expand(pattern) if isinstance(pattern, str) else None
        if pattern == "all":
            hosts = tuple(self.inventory.hosts)
        if not hosts:
            self.refuse(path + ("hosts",), f"hosts: {pattern!r} is not a group or host of the inventory "
                                           "(patterns such as web:&db are not converted)")
            return
        play_vars: dict[str, Any] = dict(play["vars"]) if isinstance(play.get("vars"), dict) else {}
        play_sites = play_task_sites(TaskExpander(self.files, self.refuse), self.playbook.parent, path, play,
                                     play_vars, self.out.notes)
        sites, handler_sites = play_sites.tasks, play_sites.handlers
        self.out.tasks += play_sites.skipped
        for number, name in enumerate(as_list(play.get("vars_files"))):
            loaded = self._vars_file(path + ("vars_files", number), name)
            for key, value in (loaded or {}).items():
                play_vars.setdefault(key, value)
        if play.get("remote_user"):
            for host in hosts:
                if not self.inventory.hosts[host].user:
                    self.users.setdefault(host, str(play["remote_user"]))
        if play.get("serial") is not None:
            if isinstance(pattern, str) and pattern in self.inventory.groups and pattern != "all":
                self.rolling[pattern] = play["serial"]
            else:
                self.out.notes.append(f"{self.locate(path + ('serial',))}: serial on {pattern!r} is not carried: "
                                      "a rollout is a group's (inventory groups: NAME: {hosts: …, serial: N})")
        self.play_become = truthy(play.get("become"))
        self.play_vars = play_vars
        for key, value in play_vars.items():
            if key in self.out.variables and self.out.variables[key] != value:
                self.out.notes.append(f"variable {key} differs between plays; the first play's value is kept")
            self.out.variables.setdefault(key, value)
        if play.get("become") is True or str(play.get("become")).lower() in ("yes", "true"):
            self.become_hosts.update(hosts)
        rewriter = Rewriter(self.host_var_names, play_vars)
        handlers = self._handlers(handler_sites)
        notified: dict[str, list[str]] = {}
        for site in sites:
            made = self.task(site.path, site.task, str(pattern), rewriter, site=site)
            if made is None:
                continue
            for name in as_list(site.task.get("notify")):
                notified.setdefault(str(name), []).append(made)
        for name, site in handlers.items():
            senders = sorted(set(notified.get(name, [])))
            if senders:
                self.task(site.path, site.task, str(pattern), rewriter, senders, site=site)

    @staticmethod
    def _handlers(sites: list[TaskSite]) -> dict[str, TaskSite]:
        out: dict[str, TaskSite] = {}
        for site in sites:
            for name in [site.task.get("name"), *as_list(site.task.get("listen"))]:
                if name:
                    out.setdefault(str(name), site)
        return out

    def task(self, path: JsonPath, task: Any, on: str, rewriter: Rewriter, senders: list[str] | None = None, *,
             site: TaskSite) -> str | None:
        """The converted task's address, or None (recorded as unconverted)."""
        self.out.tasks += 1
        made = self._task(path, task, on, rewriter, senders, site)
        self.out.converted += made is not None
        return made

    def _task(self, path: JsonPath, task: Any, on: str, rewriter: Rewriter, senders: list[str] | None,
              site: TaskSite) -> str | None:
        """One task as a resource of the spec (a handler when `senders` notify it): its address, or None when
        it is refused (the reason is in the report)."""
        if not isinstance(task, dict):
            self.refuse(path, "a task must be a mapping")
            return None
        picked = module_of(task, self.play_become, self._read_later)
        if isinstance(picked, Refusal):
            self.refuse(path + picked.at, picked.reason)
            return None
        written, module, title = picked.written, picked.module, picked.title
        self.out.notes += [f"{self.locate(path)}: {note}" for note in picked.notes]
        control = task.get("loop_control")
        if isinstance(control, dict) and control.get("loop_var"):
            rewriter = Rewriter(self.host_var_names, self.play_vars, str(control["loop_var"]))
        args = arguments(task, written, module, title)
        if isinstance(args, Refusal):
            self.refuse(path + args.at, args.reason)
            return None
        found = self._converted(path, written, module, args, title, handler=senders is not None)
        if found is None:
            return None
        resource = self._resource(path, task, title, module, found, on, rewriter, site)
        if resource is None:
            return None
        if senders is not None:
            return self._handler(path, title, module, args, resource, senders)
        self.out.resources.append(resource)
        self.out.order.append(f"{resource['type']}.{resource['name']}")
        return f"{resource['type']}.{resource['name']}"

    def _converted(self, path: JsonPath, written: str, module: str, args: dict[str, Any], title: str, *,
                   handler: bool) -> tuple[str, dict[str, Any]] | None:
        """The first type that takes the task, with its attributes; None (refused) when none does."""
        found: tuple[str, dict[str, Any]] | None = None
        for type_name in self.takers.get(module, []):
            try:
                taker = self.registry.module(type_name)
                assert isinstance(taker, AnsibleTasks), type_name
                attributes = taker.from_ansible(module, args, handler=handler)
            except NotConvertible as exc:
                self.refuse(path + (written,), f"{title}: {exc}")
                return None
            except KeyError as exc:  # a type's conversion met a task without an argument it needs
                self.refuse(path + (written,), f"{title}: {module} without its {exc.args[0]} argument is not converted")
                return None
            except (TypeError, ValueError, AttributeError) as exc:
                self.refuse(path + (written,), f"{title}: {module}: an argument has an unexpected shape ({exc})")
                return None
            if attributes is not None:
                found = (type_name, attributes)
                break
        if found is None:
            self.refuse(path + (written,), f"{title}: module {module} has no reconcile type"
                        if module not in self.takers else f"{title}: {module} with these arguments is not converted")
            return None
        return found

    def _resource(self, path: JsonPath, task: dict[str, Any], title: str, module: str,
                  found: tuple[str, dict[str, Any]], on: str, rewriter: Rewriter,
                  site: TaskSite) -> dict[str, Any] | None:
        """The spec's resource for a converted task: its loop, templates, `no_log` and `when`."""
        type_name, attributes = found
        environment = task.get("environment")
        if environment is not None:
            attributes["environment"] = {str(k): str(v) for k, v in environment.items()}
        loop = next((task[k] for k in ("loop", "with_items", "with_list") if k in task), None)
        resource: dict[str, Any] = {"type": type_name, "name": self._name(type_name, task.get("name"), module),
                                    "on": on}
        if loop is not None:
            each = for_each(loop, rewriter, self.play_vars)
            if each is None:
                self.refuse(path, f"{title}: its loop must be a list or an expression")
                return None
            resource["for_each"] = each
        attributes = rewriter.value(attributes, loop is not None)
        if "template" in attributes and isinstance(attributes["template"], str):
            copied = copy_template(attributes["template"], site.base, site.role,
                                   lambda text: rewriter.template(text, loop is not None), self.out.templates)
            if copied.target is None:
                self.refuse(path, copied.problem)
                return None
            attributes["template"] = copied.target
        resource.update(attributes)
        if truthy(task.get("no_log")):  # Ansible hides its values: so does the spec
            resource["sensitive"] = sorted(k for k in attributes if k != "state")
        when = task.get("when")
        if when is not None:
            parts = [str(w) for w in as_list(when)]
            resource["when"] = " and ".join(f"({rewriter.expression(p, loop is not None)})" if len(parts) > 1
                                            else rewriter.expression(p, loop is not None) for p in parts)
        return resource

    def _handler(self, path: JsonPath, title: str, module: str, args: dict[str, Any], resource: dict[str, Any],
                 senders: list[str]) -> str | None:
        """A handler: triggered by the tasks that notify it (merged into a resource a task already keeps)."""
        type_name = resource["type"]
        kind = self.registry.module_class(type_name)
        trigger = kind.trigger_attribute or ("triggered_by" if kind.triggered_actions else None)
        if trigger is None:
            self.refuse(path, f"{title}: a handler of type {type_name} cannot be triggered yet")
            return None
        same = self._managed_already(resource, trigger)
        if module in ("service", "systemd", "systemd_service") and str(args.get("state")) == "reloaded":
            receiver = f"{type_name}.{(same or resource)['name']}"
            for sender in senders:  # a reload: the notifying resources say so (notify: "service.x: reload")
                self._notify(sender, f"{receiver}: reload")
            if same is None:
                self.out.resources.append(resource)
            return receiver
        if same is not None:  # "restart nginx" for the nginx a task already keeps running
            same[trigger] = sorted(set(same.get(trigger, [])) | set(senders))
            return f"{type_name}.{same['name']}"
        resource[trigger] = senders
        self.out.resources.append(resource)
        self.out.order.append(f"{type_name}.{resource['name']}")
        return f"{type_name}.{resource['name']}"

    def _notify(self, sender: str, entry: str) -> None:
        for resource in self.out.resources:
            if f"{resource['type']}.{resource['name']}" == sender:
                resource["notify"] = sorted({*resource.get("notify", []), entry})

    def _vars_file(self, path: JsonPath, name: Any) -> dict[str, Any] | None:
        """A play's vars_files entry, read beside the playbook (a templated name is refused)."""
        if not isinstance(name, str) or "{{" in name:
            self.refuse(path, f"vars_files {name!r}: only fixed file names are read")
            return None
        found = self.playbook.parent / name
        try:
            data, _ = load_yaml_file(found)
        except (SpecError, ReconcileError) as exc:
            self.refuse(path, f"vars_files {name}: {exc}")
            return None
        if not isinstance(data, dict):
            self.refuse(path, f"vars_files {name}: not a mapping of variables")
            return None
        return data

    def _read_later(self, variable: str) -> bool:
        """Whether anything in the playbook other than its `register:` names the variable."""
        return len(re.findall(rf"(?<![\w.]){re.escape(variable)}\b", self.text)) > 1

    def _managed_already(self, handler: dict[str, Any], trigger: str) -> dict[str, Any] | None:
        """The resource of an earlier task that manages the object a handler acts on (same type, hosts and
        identifying attributes), which then takes the handler's trigger."""
        loose = {"name", "state", "enabled", "depends_on", trigger}
        wanted = {k: v for k, v in handler.items() if k not in loose}
        for resource in self.out.resources:
            if {k: v for k, v in resource.items() if k not in loose} == wanted:
                return resource
        return None

    def _name(self, type_name: str, title: Any, module: str) -> str:
        base = short_name(title, module)
        name, n = base, 2
        while f"{type_name}.{name}" in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(f"{type_name}.{name}")
        return name

    def _step(self, type_name: str) -> str:
        declared = self.registry.module_class(type_name) if type_name in self.registry else None
        return declared.ansible_step if declared is not None and issubclass(declared, AnsibleTasks) else "content"

    def finish(self) -> Conversion:
        self.out.inventory = inline_inventory(self.inventory, self.become_hosts, self.users, self.rolling)
        self.out.resources = shaped(self.out.resources, self.out.order, self._step)
        return self.out
