"""The `hello` family's target: a board, i.e. a directory of greeting cards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError


class Board:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root

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
    return Board(name, Path(root))
