"""Malformed and odd playbooks for `migrate ansible`: blocks, includes and roles nested at random, with task
keywords of any shape. Converting is a Conversion or one SpecError/ReconcileError, never anything else, and a
file that includes itself is refused, not followed forever."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ReconcileError
from reconciler.migrate.ansible import convert
from reconciler.registry import Registry

EXAMPLES = int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=30_000, suppress_health_check=list(HealthCheck))
REGISTRY = Registry.installed()

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["x", "{{ item }}", "tasks.yml", "self.yml", "web", "/tmp/a", "{{ nope", "yes", "0644"]))
MODULES = st.sampled_from(["file", "copy", "apt", "service", "user", "command", "debug", "template", "lineinfile",
                           "ansible.builtin.file", "nonsense"])
ARGS = st.one_of(SCALARS, st.dictionaries(st.sampled_from(["path", "name", "state", "content", "dest", "src", "line"]),
                                          SCALARS, max_size=3))
KEYWORDS = st.sampled_from(["when", "loop", "notify", "become", "become_user", "no_log", "environment", "tags",
                            "register", "args", "loop_control", "changed_when"])


def tasks(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.builds(lambda m, a, k: {"name": "t", m: a, **k}, MODULES, ARGS,
                     st.dictionaries(KEYWORDS, st.one_of(SCALARS, st.lists(SCALARS, max_size=2)), max_size=2))
    include = st.builds(lambda k, f: {k: f}, st.sampled_from(["include_tasks", "import_tasks", "include_role",
                                                                "import_role"]),
                        st.one_of(SCALARS, st.fixed_dictionaries({"name": SCALARS}),
                                  st.fixed_dictionaries({"file": SCALARS})))
    if depth == 0:
        return st.lists(st.one_of(leaf, include, SCALARS), max_size=4)
    block = st.builds(lambda b, r, a, w: {"block": b, "rescue": r, "always": a, "when": w},
                      tasks(depth - 1), st.one_of(st.none(), tasks(depth - 1)), st.one_of(st.none(), tasks(0)), SCALARS)
    return st.lists(st.one_of(leaf, include, block), max_size=4)


@FUZZ
@given(play_tasks=tasks(), included=tasks(1), roles=st.lists(st.one_of(SCALARS, st.fixed_dictionaries(
    {"role": SCALARS})), max_size=2), defaults=st.one_of(SCALARS, st.dictionaries(st.sampled_from(["a", "b"]),
                                                                                   SCALARS, max_size=2)))
def test_a_playbook_converts_or_is_one_clear_error(play_tasks: Any, included: Any, roles: Any, defaults: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "hosts.ini").write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
        (root / "site.yml").write_text(yaml.safe_dump([{"hosts": "web", "roles": roles, "tasks": play_tasks}]))
        (root / "tasks.yml").write_text(yaml.safe_dump(included))
        (root / "self.yml").write_text(yaml.safe_dump([{"include_tasks": "self.yml"}]))
        for role in ("x", "web"):
            (root / "roles" / role / "tasks").mkdir(parents=True)
            (root / "roles" / role / "tasks/main.yml").write_text(yaml.safe_dump(included))
            (root / "roles" / role / "defaults").mkdir()
            (root / "roles" / role / "defaults/main.yml").write_text(yaml.safe_dump(defaults))
        try:
            conversion = convert(root / "site.yml", root / "hosts.ini", REGISTRY)
        except ReconcileError:
            return
        assert conversion.converted <= conversion.tasks
        assert all(isinstance(r["name"], str) and r["name"] for r in conversion.resources)
