"""Jinja2 rendering, always sandboxed and strict: an undefined name is an error, never an empty string.

Rendering is bounded: results and arguments beyond MAX_LENGTH, exponents beyond MAX_EXPONENT_BITS, and
more than TIME_BUDGET seconds of rendering for one spec are errors, like anything else a template can do
wrong (a division by zero, a recursive macro). Every such failure is a TemplateFailure with a message.
"""

from __future__ import annotations

import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_LENGTH = 1_000_000  # characters or items a template may build, and integer arguments it may pass
MAX_EXPONENT_BITS = 4096
TIME_BUDGET = 20.0  # seconds of template rendering for one spec

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.DOTALL)
# `{{ name }}` / `{{ a.b.c }}` with no filter, call, index or private name: looked up without compiling
_PLAIN_LOOKUP = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}")
_NO_LOOKUP = object()


class TemplateFailure(Exception):
    """Anything a template did wrong, as one message (and the template line, when Jinja knows it)."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.lineno = lineno


class _Timeout(BaseException):  # BaseException: no `except Exception` inside a template's Python can eat it
    pass


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus limits on what one expression may build."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > MAX_EXPONENT_BITS:
                raise SecurityError(f"{left} ** {right} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_LENGTH:
                    raise SecurityError(f"the result would hold more than {MAX_LENGTH} items")
        if operator == "+" and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            if len(left) + len(right) > MAX_LENGTH:
                raise SecurityError(f"the result would hold more than {MAX_LENGTH} items")
        if operator == "%" and isinstance(left, str):
            _check_args(right if isinstance(right, tuple) else (right,), {})
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's form
        _check_args(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_LENGTH:
            raise SecurityError(f"argument {value} is too large (the limit is {MAX_LENGTH})")


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


class Renderer:
    """Renders the strings of a spec. One per run; caches compiled templates by source. `loader`: where
    `{% include %}`, `{% import %}` and `{% extends %}` find their templates (see templates.ConfinedLoader)."""

    def __init__(self, time_budget: float = TIME_BUDGET, loader: BaseLoader | None = None) -> None:
        self.env = BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False,
                                  loader=loader)
        self.env_crlf = BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False,
                                       newline_sequence="\r\n", loader=loader)
        self._templates: dict[str, Any] = {}
        self._expressions: dict[str, Any] = {}
        self.budget = time_budget

    def render_string(self, text: str, context: Mapping[str, Any]) -> Any:
        """Render `text`; a string that is one `{{ expression }}` keeps the expression's type."""
        fast = self._plain_lookups(text, context)
        if fast is not _NO_LOOKUP:
            return fast
        return self._guarded(lambda: self._render_string(text, context))

    def _guarded(self, work: Callable[[], Any]) -> Any:
        """Run a render: any failure becomes a TemplateFailure, and it may not outlast the time budget."""
        started = time.monotonic()
        try:
            with _deadline(self.budget):
                return work()
        except TemplateError as exc:
            raise TemplateFailure(str(exc), getattr(exc, "lineno", None)) from None
        except _Timeout:
            raise TemplateFailure(f"rendering took more than the {TIME_BUDGET:.0f}s budget of a spec "
                                  "(a loop too large?)") from None
        except RecursionError:
            raise TemplateFailure("recursion too deep (a macro calling itself?)") from None
        except MemoryError:
            raise TemplateFailure("out of memory while rendering") from None
        except Exception as exc:  # noqa: BLE001 - whatever Python raised inside the template is the user's error
            raise TemplateFailure(f"{type(exc).__name__}: {exc}") from None
        finally:
            self.budget -= time.monotonic() - started

    def _render_string(self, text: str, context: Mapping[str, Any]) -> Any:
        env = self.env_crlf if "\r\n" in text else self.env
        single = _SINGLE_EXPRESSION.match(text) if text.startswith("{{") else None
        if single:
            compiled = self._expressions.get(text)
            if compiled is None:
                compiled = env.compile_expression(single["expr"], undefined_to_none=False)
                self._expressions[text] = compiled
            value = compiled(**context)
            if isinstance(value, StrictUndefined):
                str(value)  # raises UndefinedError with jinja's message
            if isinstance(value, (bool, int, float, list, dict)) or value is None:
                return value
            return str(value)
        template = self._templates.get(text)
        if template is None:
            template = env.from_string(text)
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

    def render_text(self, text: str, context: Mapping[str, Any]) -> str:
        """Render a whole template text (e.g. a template file's content); always a string."""
        env = self.env_crlf if "\r\n" in text else self.env
        return str(self._guarded(lambda: env.from_string(text).render(context)))


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the main thread after `seconds` (SIGALRM); elsewhere, no limit can be imposed."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    if seconds <= 0:
        raise _Timeout()

    def expire(signum: int, frame: Any) -> None:
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
