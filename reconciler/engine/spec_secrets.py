"""The secret values a run must never print: those the spec itself holds (its types' secret attributes), and
every environment value used inside one (a password in a command line is masked on its own too, e.g. when
the command echoes it)."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model import Spec
from reconciler.registry import Registry
from reconciler.secrets import Redactor


def learn_secrets(redactor: Redactor, spec: Spec, registry: Registry, environ: Mapping[str, str]) -> None:
    """Teach `redactor` the spec's secret values."""
    names = spec.document.data.get("vars_from_env")
    env_values = [environ[n] for n in names if isinstance(n, str) and n in environ] if isinstance(names, list) else []
    for r in spec.resources:
        for name in registry.module(r.type).secret_attributes(r):
            value = r.attributes.get(name)
            redactor.add(value)
            text = str(value) if value is not None else ""
            for env_value in env_values:
                if len(env_value) >= 3 and env_value in text:
                    redactor.add(env_value)
