"""Counts said in words: "1 problem", "2 problems" (never "problem(s)")."""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "directory": "directories", "key": "keys", "is": "are", "was": "were"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the word in the plural unless the count is one."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {many or IRREGULAR.get(word) or word + 's'}"
