"""The shared lookup of data aws.vpc and aws.subnet: an existing object found by its tags (and more), with one
paginated describe for all lookups of the type. Exactly one must match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.aws import AwsSession

from .common import all_tags, api_errors, paginate


class TaggedData(DataSource[AwsSession]):
    family = "aws"
    operation: ClassVar[str]
    key: ClassVar[str]
    id_key: ClassVar[str]
    kind: ClassVar[str]

    def describe(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def matches(self, q: Resource, obj: Mapping[str, Any]) -> bool:
        tags = all_tags(obj.get("Tags"))
        return all(tags.get(k) == str(v) for k, v in (q.get("tags") or {}).items())

    def read(self, session: AwsSession, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        with api_errors():
            listed = paginate(session.client("ec2"), self.operation, self.key)
        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        for q in queries:
            found = [o for o in listed if self.matches(q, o)]
            if len(found) != 1:
                wanted = ", ".join(f"{k}={v}" for k, v in sorted((q.get("tags") or {}).items())) or "no tags"
                ids = ", ".join(o[self.id_key] for o in found[:5])
                out[q.address] = Unobservable(f"{len(found)} {self.kind}s match ({wanted})" + (f": {ids}" if ids else "")
                                              + "; exactly one must")
                continue
            out[q.address] = {**self.describe(found[0]), "tags": all_tags(found[0].get("Tags"))}
        return out

