"""A task's template file, found as Ansible finds it and copied under the spec's templates/ with its
expressions rewritten, together with every file it includes, imports or extends (recursively), which the
spec's template loader then finds under templates/ by the same names."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.spec.load import display_path

AFTER_TAG = re.compile(r"(?<!\+)(%}|#})\r?\n")
INCLUDED = re.compile(r"{%-?\s*(?:include|import|extends|from)\s+(['\"])([^'\"]+)\1")
MAX_INCLUDED = 200


@dataclass(frozen=True)
class Copied:
    target: str | None  # where the template now is in the spec directory; None: not copied
    problem: str = ""


def copy_template(source: str, base: Path, role: str | None, rewrite: Callable[[str], str],
                  into: MutableMapping[str, str]) -> Copied:
    """`base`: the playbook's or the role's directory (templates/ there first, then beside it)."""
    if "{{" in source:
        return Copied(None, f"template src {source!r} is an expression: only fixed files are converted")
    searched = (base / "templates", base)
    found = next((d / source for d in searched if (d / source).is_file()), None)
    if found is None:
        return Copied(None, f"template {source} not found under {display_path(base / 'templates')}")
    target = f"templates/{role + '/' if role else ''}{Path(source).name}"
    problem = _put(into, target, rewrite(as_ansible_renders(found.read_text(encoding="utf-8", errors="replace"))))
    if problem:
        return Copied(None, problem)
    pending, seen = [found], {found.resolve()}
    while pending:
        text = pending.pop().read_text(encoding="utf-8", errors="replace")
        for _, name in INCLUDED.findall(text):
            if "{{" in name or name.startswith("/") or ".." in Path(name).parts:
                return Copied(None, f"template {source} includes {name!r}: only fixed names under its templates/ "
                                    "directory are copied")
            included = next((d / name for d in searched if (d / name).is_file()), None)
            if included is None:
                return Copied(None, f"template {source} includes {name}, not found under "
                                    f"{display_path(base / 'templates')}")
            if included.resolve() in seen:
                continue
            if len(seen) >= MAX_INCLUDED:
                return Copied(None, f"template {source} includes more than {MAX_INCLUDED} files")
            seen.add(included.resolve())
            text = as_ansible_renders(included.read_text(encoding="utf-8", errors="replace"), included=True)
            problem = _put(into, f"templates/{name}", rewrite(text))
            if problem:
                return Copied(None, problem)
            pending.append(included)
    return Copied(target)


def as_ansible_renders(text: str, included: bool = False) -> str:
    """The text that renders under reconcile's Jinja settings as it does under Ansible's: Ansible trims the
    newline after a block tag (`trim_blocks`), and drops an included file's last newline."""
    if text.startswith("#jinja2:"):
        return text  # the template sets its own whitespace rules: copied as written
    text = AFTER_TAG.sub(r"\1", text)
    return text[:-1] if included and text.endswith("\n") else text


def _put(into: MutableMapping[str, str], target: str, text: str) -> str:
    if target in into and into[target] != text:
        return f"two different templates would both be {target}"
    into[target] = text
    return ""
