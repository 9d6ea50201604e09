"""Where a stack's state is, read from the spec without validating it: its `name:` and its `state:` block
with the --backend-config values, rendered for a workspace. The state commands work on a spec that does not
validate (or misses its secrets)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError, SpecError
from reconciler.spec.build_state import default_stack_name
from reconciler.spec.load import load_spec
from reconciler.spec.render import Renderer, TemplateFailure
from reconciler.spec.variables import Variables


def declared_stack_name(spec_path: str | Path) -> tuple[bool, str]:
    """(whether the spec has a `name:`, the stack's name: that one, else the default for its path)."""
    try:
        name = load_spec(spec_path).data.get("name")
    except SpecError:
        name = None
    if isinstance(name, str) and name:
        return True, name
    return False, default_stack_name(str(Path(spec_path).absolute()))


def state_settings(spec_path: str | Path, backend_config: Mapping[str, Any], environ: Mapping[str, str] | None,
                   variables: Callable[[Mapping[str, Any]], Variables], workspace: str) -> dict[str, Any]:
    """The spec's `state:` block and the --backend-config values, rendered for `workspace` with the spec's
    variables (`variables` layers the var files and --var over the spec's own) and `vars_from_env`."""
    block: Any = {}
    document = None
    try:
        document = load_spec(spec_path)
        block = document.data.get("state")
    except SpecError:
        pass
    settings = {**(block if isinstance(block, dict) else {}), **backend_config}
    if not settings:
        return {}
    environ = os.environ if environ is None else environ
    names = document.data.get("vars_from_env") if document is not None else None
    env = {n: environ.get(n, "") for n in names if isinstance(n, str)} if isinstance(names, list) else {}
    raw_vars = document.data.get("vars") if document is not None else None
    values = dict(variables(raw_vars if isinstance(raw_vars, dict) else {}).values)
    try:
        rendered = Renderer().render(settings, {**values, "vars": values, "env": env, "workspace": workspace})
    except TemplateFailure as exc:
        raise ReconcileError(f"template error in state (or --backend-config): {exc}") from None
    return dict(rendered) if isinstance(rendered, dict) else {}
