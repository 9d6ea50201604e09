"""hello.greeting: a card saying hello to someone, pinned on the board."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconcile_hello.board import Board
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module


class GreetingModule(Module):
    type_name = "hello.greeting"
    family = "hello"

    def observe(self, target: Board, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        cards = target.cards()
        out: dict[str, Observed | None] = {}
        for r in resources:
            text = cards.get(r.name)
            out[r.address] = None if text is None else Observed({"who": _who(text), "punctuation": text[-2:-1]},
                                                                  {"card": r.name})
        return out

    def apply(self, target: Board, change: Change) -> Observed:
        r = change.resource
        punctuation = r.get("punctuation") or "!"
        target.pin(r.name, f"{target.salutation}, {r.get('who')}{punctuation}\n")
        return Observed({"who": r.get("who"), "punctuation": punctuation}, {"card": r.name})

    def delete(self, target: Board, resource: Resource, observed: Observed) -> None:
        target.unpin(resource.name)


def _who(text: str) -> str:
    return text.partition(", ")[2].rstrip("\n")[:-1]
