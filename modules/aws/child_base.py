"""The shared observation of the AWS types whose objects belong to a parent and carry no tags (a topic's
subscriptions, a function's permission statements): one listing per parent for all its children, several
parents at once, shared by the plan's waves. A child is known by what the state recorded (or `import:`
names); one found with the same key but not recorded is refused, never taken over. A new child type is
one subclass saying its parent attribute, how a parent's children are listed, and how one is matched
and read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.aws import AwsSession

from .common import read_each


class ChildModule(Module[AwsSession], TerraformForm):
    """An object of a parent (`parent_attribute`), found among the parent's children."""

    family = "aws"
    not_compared = frozenset({"state", "import"})
    service: str  # the botocore client: "sns"
    parent_attribute: str  # the attribute naming the parent: "topic_arn"

    def parent_of(self, resource: Resource) -> str:
        """The parent the state recorded (what the object belongs to now), else the spec's."""
        return str(resource.prior.get(self.parent_attribute) or resource.get(self.parent_attribute))

    def children(self, client: Any, parent: str) -> list[Any]:
        """Every child of `parent` (none when the parent is gone)."""
        raise NotImplementedError

    def recorded(self, resource: Resource) -> str | None:
        """What names the resource's own child: the identity the state recorded, or `import:`."""
        raise NotImplementedError

    def named(self, child: Any, name: str) -> bool:
        """`child` is the one `recorded` names."""
        raise NotImplementedError

    def same_key(self, resource: Resource, child: Any) -> bool:
        """`child` holds what the resource would make (its topic, protocol and endpoint; its statement id)."""
        raise NotImplementedError

    def refusal(self, resource: Resource, child: Any) -> str:
        """Why a child with the resource's key, not recorded, is not taken over."""
        raise NotImplementedError

    def read(self, client: Any, resource: Resource, child: Any) -> Observed:
        """The spec's view of the resource's child."""
        raise NotImplementedError

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        client = session.client(self.service)
        parents = sorted({self.parent_of(r) for r in resources})

        def listed(parent: str) -> list[Any]:
            return session.listed(f"{self.type_name}:{parent}", lambda: self.children(client, parent))
        by_parent = dict(zip(parents, session.map(listed, parents), strict=True))
        found: dict[str, Any] = {}
        for r in resources:
            children = by_parent.get(self.parent_of(r)) or []
            name = self.recorded(r)
            if name:
                found[r.address] = next((c for c in children if self.named(c, name)), None)
                continue
            same = next((c for c in children if self.same_key(r, c)), None)
            found[r.address] = Unobservable(self.refusal(r, same)) if same is not None else None
        wanted = [r for r in resources if found[r.address] is not None and not isinstance(found[r.address],
                                                                                              Unobservable)]
        read = read_each(session, wanted, lambda r: self.read(client, r, found[r.address]))
        return {r.address: read.get(r.address, found[r.address]) for r in resources}
