"""`outputs:` resolved from what is known of the resources: at plan time (values a change will decide are
unknown), after apply (every value known). A value read from a secret is a secret (as in Terraform)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from reconciler.engine.references import ReferenceResolver
from reconciler.model import Output, Resource
from reconciler.registry import Registry


@dataclass(frozen=True)
class OutputValue:
    name: str
    value: Any  # UNKNOWN until apply decides it
    sensitive: bool
    description: str = ""

    def stored(self) -> dict[str, Any]:
        """What the state keeps: a sensitive value never."""
        return {"sensitive": True} if self.sensitive else {"value": self.value}


def resolve_outputs(outputs: Sequence[Output], graph: nx.DiGraph[str], registry: Registry,
                    known: Mapping[str, Mapping[str, Any]],
                    secrets: Mapping[str, frozenset[str]] | None = None,
                    data: Sequence[Resource] = ()) -> tuple[OutputValue, ...]:
    if not outputs:
        return ()
    holder = Resource("outputs", "outputs", "outputs", "local", attributes={o.name: o.value for o in outputs})
    resolved = ReferenceResolver(graph, registry, data).resolve(holder, known, secrets)
    return tuple(OutputValue(o.name, resolved.attributes[o.name], o.sensitive or o.name in resolved.sensitive,
                             o.description) for o in outputs)
