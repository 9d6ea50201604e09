"""Helpers for `user` and `group`: both read /etc/passwd and /etc/group in the same round trip."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.targets.base import Target


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class Accounts:
    users: dict[str, Account]
    groups: dict[str, tuple[int, list[str]]]  # name -> (gid, members)
    files: dict[str, bytes | None]  # extra files read in the same round trip

    def groups_of(self, user: str) -> list[str]:
        return sorted(g for g, (_, members) in self.groups.items() if user in members)

    def group_name(self, gid: int) -> str | None:
        return next((g for g, (i, _) in self.groups.items() if i == gid), None)


ACCOUNT_FILES = ("/etc/passwd", "/etc/group")


def read_accounts(target: Target, extra: list[str] | None = None) -> Accounts:
    files = target.read_many([*ACCOUNT_FILES, *(extra or [])])
    users = {}
    for line in (files.get("/etc/passwd") or b"").decode().splitlines():
        parts = line.split(":")
        if len(parts) >= 7:
            users[parts[0]] = Account(parts[0], int(parts[2]), int(parts[3]), parts[5], parts[6])
    groups = {}
    for line in (files.get("/etc/group") or b"").decode().splitlines():
        parts = line.split(":")
        if len(parts) >= 4:
            groups[parts[0]] = (int(parts[2]), [m for m in parts[3].split(",") if m])
    return Accounts(users, groups, files)
