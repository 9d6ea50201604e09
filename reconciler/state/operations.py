"""What the state commands do to a state, behind the backend's interface: adopting an object, pushing a
document, copying a state to another backend and checking the copy, deleting a workspace's state. The CLI
parses, asks and prints; these decide and write."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import StateError
from reconciler.model import Resource
from reconciler.state.backend import StateBackend
from reconciler.state.interface import StateStore
from reconciler.state.records import FOUND, StateDocument, StateRecord, now_text
from reconciler.words import plural


def adopt(store: StateStore, resource: Resource, identity: Mapping[str, Any]) -> None:
    """Record an existing object as `resource` (found, not created: removing it from the spec later leaves it
    in place); refused when the address is already in the state."""
    if store.get(resource.address) is not None:
        raise StateError(f"{resource.address} is already in the state (`reconcile state rm {resource.address}` first)")
    store.put(StateRecord(resource.address, resource.type, resource.name, resource.target, resource.host,
                          dict(identity), {}, {}, (), False, now_text(), FOUND))
    store.bump_serial()


def check_lineage(store: StateStore, document: StateDocument, force: bool) -> None:
    """A pushed document replaces the state only if it is the same state (lineage) and not older (serial)."""
    if force or not store.records() and not store.serial:
        return
    if store.lineage and document.lineage != store.lineage:
        raise StateError(f"refusing to push: the file is of lineage {document.lineage}, the state of "
                         f"{store.lineage} (another state altogether); --force if you are sure")
    if document.serial < store.serial:
        raise StateError(f"refusing to push: the file has serial {document.serial}, older than the state's "
                         f"{store.serial}; pull again, or --force")


def push(store: StateStore, document: StateDocument, force: bool) -> None:
    check_lineage(store, document, force)
    store.replace_with(document)


def copy_state(store: StateStore, target: StateBackend) -> StateDocument:
    """Copy the open state to `target` (which must hold none), under its lock, then read the copy back:
    refused unless it is the same document. The caller holds the source's lock."""
    document = store.document()
    with target.lock("state migrate"), target.open(writable=True) as copy:
        if copy.records() or copy.serial:
            raise StateError(f"{target.location} already holds a state; remove it first")
        copy.replace_with(document)
    with target.open() as check:
        copied = check.document()
    if copied.to_json() != document.to_json():
        raise StateError(f"the copy in {target.location} differs from the state; nothing was switched")
    return document


def delete_workspace(backend: StateBackend, name: str, force: bool,
                     check_owner: Callable[[StateStore], None] = lambda store: None) -> None:
    """Delete a workspace's state under its lock (refused while a run holds it), and only when it manages
    nothing, unless `force`; `check_owner` refuses a state of another stack."""
    with backend.lock("workspace delete"):
        with backend.open() as store:
            check_owner(store)
            count = len(store.records())
        if count and not force:
            raise StateError(f"workspace {name} still manages {plural(count, 'resource')}; destroy them first "
                             f"(`reconcile destroy --workspace {name}`) or pass --force")
        backend.delete()
