"""Which drift is current: each drift is announced once when it appears and once when it ends."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.engine.drift import DriftItem, DriftReport


@dataclass(frozen=True)
class Changes:
    new: tuple[DriftItem, ...] = ()
    resolved: tuple[DriftItem, ...] = ()


@dataclass
class DriftLedger:
    """The drift seen last, per address. Only what a run observed can end: a resource left out of a run (its
    own cadence not due) or one that could not be observed keeps its drift."""

    current: dict[str, DriftItem] = field(default_factory=dict)

    def observe(self, report: DriftReport, observed: Collection[str] | None = None) -> Changes:
        """`observed`: the addresses this run covered (None: every one)."""
        seen = {item.address: item for item in report.items}
        new = tuple(item for address, item in seen.items() if address not in self.current)
        gone = tuple(item for address, item in self.current.items()
                     if address not in seen and address not in report.errors
                     and (observed is None or address in observed or item.kind == "unmanaged"))
        for item in gone:
            del self.current[item.address]
        self.current.update(seen)
        return Changes(new, gone)

    def repaired(self, addresses: Iterable[str]) -> tuple[DriftItem, ...]:
        """Drift an apply has just repaired: ended now (the next observation will not announce it again)."""
        return tuple(self.current.pop(a) for a in list(addresses) if a in self.current)

    def counts(self) -> Mapping[str, int]:
        out: dict[str, int] = {}
        for item in self.current.values():
            out[item.kind] = out.get(item.kind, 0) + 1
        return out
