"""Jinja2 rendering, always sandboxed and strict: an undefined name is an error, never an empty string."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

TemplateFailure = TemplateError  # SecurityError and UndefinedError are both TemplateErrors

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)
# `{{ name }}` / `{{ a.b.c }}` with no filter, call, index or private name: looked up without compiling
_PLAIN_LOOKUP = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}")
_NO_LOOKUP = object()


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


class Renderer:
    """Renders the strings of a spec. One per run; caches compiled templates by source."""

    def __init__(self) -> None:
        self.env = SandboxedEnvironment(
            undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
        )
        self._templates: dict[str, Any] = {}
        self._expressions: dict[str, Any] = {}

    def render_string(self, text: str, context: Mapping[str, Any]) -> Any:
        """Render `text`; a string that is one `{{ expression }}` keeps the expression's type."""
        fast = self._plain_lookups(text, context)
        if fast is not _NO_LOOKUP:
            return fast
        single = _SINGLE_EXPRESSION.match(text) if text.startswith("{{") else None
        if single:
            compiled = self._expressions.get(text)
            if compiled is None:
                compiled = self.env.compile_expression(single["expr"], undefined_to_none=False)
                self._expressions[text] = compiled
            value = compiled(**context)
            if isinstance(value, StrictUndefined):
                str(value)  # raises UndefinedError with jinja's message
            if isinstance(value, (bool, int, float, list, dict)) or value is None:
                return value
            return str(value)
        template = self._templates.get(text)
        if template is None:
            template = self.env.from_string(text)
            self._templates[text] = template
        return template.render(context)

    @staticmethod
    def _plain_lookups(text: str, context: Mapping[str, Any]) -> Any:
        """The rendering of a text whose only template parts are plain dict lookups, else _NO_LOOKUP.

        Gives exactly what Jinja would for such texts; anything it does not handle (filters,
        statements, attribute access on non-dicts, missing names) goes to the sandbox, which
        then produces the value or the proper error.
        """
        if "{%" in text or "{#" in text:
            return _NO_LOOKUP
        parts = _PLAIN_LOOKUP.split(text)
        if "{{" in "".join(parts[0::2]):
            return _NO_LOOKUP
        values = []
        for name in parts[1::2]:
            value: Any = context
            for key in name.split("."):
                if not isinstance(value, dict) or key not in value:
                    return _NO_LOOKUP
                value = value[key]
            values.append(value)
        if len(parts) == 3 and not parts[0] and not parts[2]:
            only = values[0]
            if isinstance(only, (bool, int, float, list, dict)) or only is None:
                return only
        out = []
        for i, literal in enumerate(parts[0::2]):
            out.append(literal)
            if i < len(values):
                out.append(str(values[i]))
        return "".join(out)

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Render every templated string inside `value` (dicts and lists walked)."""
        if isinstance(value, str):
            return self.render_string(value, context) if is_template(value) else value
        if isinstance(value, dict):
            return {k: self.render(v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, context) for v in value]
        return value

    def render_file(self, path: Path, context: Mapping[str, Any]) -> str:
        return self.env.from_string(path.read_text(encoding="utf-8")).render(context)
