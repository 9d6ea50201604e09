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
        single = _SINGLE_EXPRESSION.match(text.strip()) if text.lstrip().startswith("{{") else None
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
