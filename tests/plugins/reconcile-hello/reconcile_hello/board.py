"""The `hello` family's target: a board, i.e. a directory of greeting cards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.targets.families import Family


class Board:
    def __init__(self, name: str, root: Path, salutation: str = "Hello"):
        self.name = name
        self.root = root
        self.salutation = salutation  # the family's settings block: `hello: {salutation: Hi}`

    def cards(self) -> dict[str, str]:
        """Every card on the board in one read: the batch a module's observe() asks for."""
        if not self.root.is_dir():
            return {}
        return {p.stem: p.read_text() for p in self.root.glob("*.card")}

    def pin(self, card: str, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / f"{card}.card").write_text(text)

    def unpin(self, card: str) -> None:
        (self.root / f"{card}.card").unlink(missing_ok=True)


def board_target(spec: Any, name: str) -> Board:
    root = os.environ.get("HELLO_BOARD")
    if not root:
        raise ReconcileError("set HELLO_BOARD to the directory of the greeting board")
    return Board(name, Path(root), str((spec.settings.get("hello") or {}).get("salutation") or "Hello"))


class HelloFamily(Family):
    """The `hello` family, with a settings block of its own (`hello:` at the top of the spec)."""

    settings_key = "hello"

    def settings_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False,
                "properties": {"salutation": {"type": "string", "minLength": 1}}}

    def create(self, spec: Any, name: str, budget: Any = None) -> Board:
        return board_target(spec, name)


HELLO = HelloFamily()
