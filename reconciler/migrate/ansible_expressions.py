"""Ansible's names in Jinja expressions, as reconcile's: the loop variable, facts, magic variables, host and
group variables, Ansible's `bool` filter, and variables that hold templates (expanded where used)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.migrate.ansible_text import EXPRESSION

FACTS = {"os_family": "os_family", "distribution": "distribution", "distribution_version": "distribution_version",
         "distribution_major_version": "distribution_major_version", "architecture": "architecture",
         "kernel": "kernel", "system": "system", "processor_vcpus": "processor_count",
         "processor_count": "processor_count", "memtotal_mb": "memtotal_mb", "hostname": "hostname",
         "fqdn": "fqdn", "nodename": "hostname"}
ANSIBLE_BOOL = re.compile(r"([\w.]+(?:\[[^\]]*\])*)\s*\|\s*bool\b")
TRUTHY = "[true, 1, '1', 'yes', 'on', 'true', 'y', 'Yes', 'On', 'True', 'YES', 'ON', 'TRUE', 'Y']"


class Rewriter:
    """Ansible's names in an expression, as reconcile's."""

    def __init__(self, host_vars: Iterable[str], play_vars: Iterable[str] | Mapping[str, Any], loop_var: str = "item"):
        self.loop_var = loop_var
        play_vars = dict(play_vars) if isinstance(play_vars, Mapping) else dict.fromkeys(play_vars)
        # Ansible renders a variable holding a template where it is used; reconcile's vars are values: a plain
        # `{{ name }}` of such a variable is replaced by its template
        self.templated = {k: v for k, v in play_vars.items() if isinstance(v, str) and ("{{" in v or "{%" in v)}
        self.inlined = re.compile(r"{{\s*(" + "|".join(map(re.escape, self.templated)) + r")\s*}}") \
            if self.templated else None
        names = sorted(set(host_vars) - set(play_vars) - {loop_var}, key=len, reverse=True)
        self.host_vars = re.compile(r"(?<![\w.'\"])(" + "|".join(map(re.escape, names)) + r")\b(?!\s*=[^=])") \
            if names else None

    def expression(self, text: str, loop: bool) -> str:
        """One Jinja expression (the inside of `{{ }}`, or a `when:`)."""
        text = re.sub(r"\bansible_facts\s*\[\s*['\"](\w+)['\"]\s*\]", lambda m: self._fact(m.group(1), m.group(0)),
                      text)
        text = re.sub(r"\bansible_facts\.(\w+)", lambda m: self._fact(m.group(1), m.group(0)), text)
        text = re.sub(r"\bansible_default_ipv4\.address\b", "host.facts.default_ipv4", text)
        text = re.sub(r"(?<![\w.])ansible_(\w+)", lambda m: self._magic(m.group(1), m.group(0)), text)
        text = re.sub(r"(?<![\w.])inventory_hostname(_short)?\b", "host.name", text)
        text = ANSIBLE_BOOL.sub(lambda m: f"({m.group(1)} in {TRUTHY})", text)  # Ansible's `bool` filter
        if loop:
            text = re.sub(r"(?<![\w.'\"])" + re.escape(self.loop_var) + r"\b", "each.value", text)
        if self.host_vars is not None:
            text = self.host_vars.sub(lambda m: "host.vars." + m.group(1), text)
        return text

    def _fact(self, name: str, written: str) -> str:
        return f"host.facts.{FACTS[name]}" if name in FACTS else written

    def _magic(self, name: str, written: str) -> str:
        if name == "host":
            return "host.address"
        return self._fact(name, written)

    def template(self, text: str, loop: bool) -> str:
        """A text with `{{ }}` and `{% %}` parts (an attribute, a template file)."""
        def inside(m: re.Match[str]) -> str:
            block = m.group(0)
            return block[:2] + self.expression(block[2:-2], loop) + block[-2:]

        for _ in range(5):  # a template may name another one
            if self.inlined is None or not self.inlined.search(text):
                break
            text = self.inlined.sub(lambda m: self.templated[m.group(1)], text)
        return EXPRESSION.sub(inside, text)

    def value(self, value: Any, loop: bool) -> Any:
        if isinstance(value, str):
            return self.template(value, loop) if ("{{" in value or "{%" in value) else value
        if isinstance(value, list):
            return [self.value(v, loop) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, loop) for k, v in value.items()}
        return value
