"""data stack_output: the outputs another stack recorded at its last apply, read from that stack's state
(local or remote, as its own `state:` block says), like Terraform's terraform_remote_state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource


class StackOutputData(DataSource[Any]):
    type_name = "stack_output"
    family = "server"  # read on the machine reconcile runs on
    provides = frozenset({"outputs"})

    def read(self, target: Any, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        from reconciler.engine.session import Session

        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        for q in queries:
            spec = Path(str(q.get("spec")))
            if not spec.is_absolute() and q.location is not None:
                spec = Path(q.location.file).parent / spec  # relative to the spec file that asks
            workspace = str(q.get("workspace") or "default")
            try:
                other = Session(spec, workspace=workspace)
                if not other.backend.exists():
                    out[q.address] = Unobservable(f"stack {spec} has no state in workspace {workspace} "
                                                  f"(looked for {other.backend.location}); apply it first")
                    continue
                with other.state() as store:
                    stored = dict(store.outputs)
            except ReconcileError as exc:
                out[q.address] = Unobservable(f"cannot read the state of {spec}: {exc}")
                continue
            out[q.address] = {"outputs": {k: v.get("value") for k, v in sorted(stored.items())
                                          if not v.get("sensitive")}}
        return out
