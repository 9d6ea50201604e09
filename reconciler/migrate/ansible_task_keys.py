"""What a task's keywords allow: the module it calls (without its collection prefix) and its arguments, or
why it is refused (a keyword reconcile cannot carry, control flow, another user than its play's). Pure
functions of the task: the converter reports a refusal at the task's location."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import JsonPath
from reconciler.migrate.ansible_text import free_form, key_values

# task keywords (not the module): carried over, dropped harmlessly, or refusing the task
CARRIED = {"name", "when", "loop", "with_items", "with_list", "notify", "listen", "args", "loop_control", "no_log",
           "become", "become_user", "environment"}
DROPPED = {"tags", "diff"}  # change nothing of what a task does
REFUSED = {"register": "its result is read by later tasks, which reconcile cannot express",
           "changed_when": "reconcile decides what changed itself", "failed_when": "not supported",
           "delegate_to": "not supported", "run_once": "not supported",
           "vars": "task-level vars are not supported", "until": "retries are not supported",
           "async": "not supported",
           "check_mode": "it only checks (Ansible changes nothing in check mode); reconcile would make the change",
           "ignore_errors": "Ansible goes on after its failure, while reconcile would skip what depends on it"}
LOOP_CONTROL = {"loop_var", "label"}
CONTROL = {"include_vars", "meta", "debug", "set_fact", "assert", "fail", "pause", "wait_for"}
FREE_FORM = {"command", "shell", "raw", "script"}
PREFIXES = ("ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general.")


@dataclass(frozen=True)
class Refusal:
    """Why a task is not converted, and where within it (`at`, a path below the task)."""

    at: JsonPath
    reason: str


@dataclass(frozen=True)
class TaskModule:
    """The module a task calls: as written, without its collection prefix; how reports name the task; notes
    on what was dropped."""

    written: str
    module: str
    title: str
    notes: tuple[str, ...] = ()


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("yes", "true", "1", "on")


def module_of(task: dict[str, Any], play_become: bool, read_later: Callable[[str], bool]) -> TaskModule | Refusal:
    """The task's module, or why the task is refused. `read_later(variable)`: whether a later task reads a
    registered variable (a `register:` nothing reads is dropped, with a note)."""
    modules = [k for k in task if k not in CARRIED | DROPPED | set(REFUSED)]
    title = f"task {task.get('name')!r}" if task.get("name") else "a task"
    if len(modules) != 1:
        return Refusal((), f"{title}: cannot tell its module ({', '.join(map(str, modules)) or 'none'})")
    written = modules[0]
    module = written
    for prefix in PREFIXES:
        module = module.removeprefix(prefix)
    notes = []
    for key in REFUSED:
        if key == "register" and key in task and not read_later(str(task[key])):
            notes.append(f"{title}: register {task[key]} dropped (nothing reads it)")
            continue
        if key == "changed_when" and str(task.get(key)).lower() in ("false", "no") and not task.get("notify"):
            continue  # it only keeps Ansible's report quiet: with nothing notified, what the task does is the same
        if key in task:
            return Refusal((key,), f"{title}: {key}: {REFUSED[key]}")
    if module in CONTROL:
        return Refusal((written,), f"{title}: {module} is not converted (no resource to manage)")
    if "become" in task or "become_user" in task:
        wants = truthy(task.get("become", play_become))
        user = str(task.get("become_user") or "root")
        if wants != play_become or (wants and user != "root"):
            return Refusal(("become",), f"{title}: runs as {user if wants else 'the login user'}, unlike the rest "
                                        "of its play (reconcile's become is the host's)")
    control = task.get("loop_control")
    if control is not None and (not isinstance(control, dict) or set(control) - LOOP_CONTROL):
        return Refusal(("loop_control",), f"{title}: loop_control other than loop_var and label is not converted")
    return TaskModule(written, module, title, tuple(notes))


def arguments(task: dict[str, Any], written: str, module: str, title: str) -> dict[str, Any] | Refusal:
    """The module's arguments (free form, key=value, a mapping, `args:`), or why the task is refused."""
    args = task[written]
    if isinstance(args, str):
        args = free_form(args) if module in FREE_FORM else key_values(args)
        if args is None:
            return Refusal((written,), f"{title}: cannot read its arguments")
    if not isinstance(args, dict):
        return Refusal((written,), f"{title}: its arguments must be a mapping")
    if "args" in task:
        if not isinstance(task["args"], dict):
            return Refusal(("args",), f"{title}: args must be a mapping")
        args = {**args, **task["args"]}
    environment = task.get("environment")
    if environment is not None and (module not in FREE_FORM or not isinstance(environment, dict)):
        return Refusal(("environment",), f"{title}: environment is carried for commands only")
    return args
