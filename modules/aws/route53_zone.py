"""`aws.route53_zone`: a hosted zone, public or private to VPCs. Zones of the same name may coexist, so a
zone is known by the id the state recorded, else by its ownership tags; one of that name that reconcile
did not make is taken over only with `import:`. ListHostedZones is one paginated call for all; tags come
ten zones per call. A zone holding records besides its own NS and SOA is a data-loss hazard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import OWNER_TAG, AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
    paginate,
    retag,
    visible_tags,
)
from .terraform import tags

TAGS_PER_CALL = 10
ZONE_GONE = GONE + ("NoSuchHostedZone",)


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def short_id(zone_id: str) -> str:
    return zone_id.rsplit("/", 1)[-1]


def zone_tags(r53: Any, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    with api_errors():
        for i in range(0, len(ids), TAGS_PER_CALL):
            for s in r53.list_tags_for_resources(ResourceType="hostedzone",
                                                 ResourceIds=list(ids[i:i + TAGS_PER_CALL]))["ResourceTagSets"]:
                out[s["ResourceId"]] = {t["Key"]: t["Value"] for t in s.get("Tags") or []}
    return out


def reference_of(session: AwsSession, resource: Resource) -> str:
    """The start of every CallerReference this stack gives a zone of `resource`: a zone carrying it is this
    stack's, tagged or not."""
    return f"{session.stack}|{resource.address}|"


class Route53ZoneModule(Module[AwsSession], TerraformForm):
    type_name = "aws.route53_zone"

    terraform_types = ("aws_route53_zone",)
    terraform_names = {"zone_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"primary_name_server", "force_destroy", "delegation_set_id"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out: dict[str, Any] = {"zone_name": str(values.get("name")).rstrip(".")}
        if values.get("comment"):
            out["comment"] = values["comment"]
        vpcs = [v for v in values.get("vpc") or [] if isinstance(v, dict) and v.get("vpc_id")]
        notes = (f"{self.type_name}.{name}: only the first of its {len(vpcs)} VPCs is carried",) if len(vpcs) > 1 else ()
        if vpcs:
            out["private_vpc_id"] = vpcs[0]["vpc_id"]
        return Adopted({**out, **tags(values)}, str(values.get("zone_id") or values.get("id")), notes=notes)
    family = "aws"
    computed = frozenset({"zone_id", "name_servers"})
    requires_replace = frozenset({"zone_name", "private_vpc_id"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"zone_id": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return None  # zones of one name may coexist

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"zone_name": fqdn(str(r.get("zone_name"))), "comment": str(r.get("comment") or ""),
                "private_vpc_id": r.get("private_vpc_id"), "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        r53 = session.client("route53")
        with api_errors():
            zones = session.listed("route53:zones", lambda: paginate(r53, "list_hosted_zones", "HostedZones"))
        wanted = {fqdn(str(r.get("zone_name"))) for r in resources}
        candidates = [z for z in zones if z["Name"].lower() in wanted or short_id(z["Id"]) in
                      {str(r.prior.get("zone_id") or r.get("import") or "") for r in resources}]
        tags = zone_tags(r53, [short_id(z["Id"]) for z in candidates])
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            known = str(r.prior.get("zone_id") or r.get("import") or "")
            zone = next((z for z in candidates if short_id(z["Id"]) == known), None) if known else None
            if zone is None and not known:
                zone = next((z for z in candidates if tags.get(short_id(z["Id"]), {}).get(OWNER_TAG) == r.address
                             and carries_marks(tags[short_id(z["Id"])], r, session)), None)
            if zone is None and not known:  # made by this stack, its tags never written (the answer was lost)
                zone = next((z for z in candidates if str(z.get("CallerReference", "")).startswith(reference_of(session, r))
                             and z["Name"].lower() == fqdn(str(r.get("zone_name")))), None)
            if zone is None:
                out[r.address] = None
                continue
            zid = short_id(zone["Id"])
            have = tags.get(zid, {})
            config = zone.get("Config") or {}
            with api_errors():
                full = r53.get_hosted_zone(Id=zid)
            vpcs = [v["VPCId"] for v in full.get("VPCs") or []]
            attrs = {"zone_id": zid, "zone_name": zone["Name"].lower(), "comment": str(config.get("Comment") or ""),
                     "private_vpc_id": vpcs[0] if config.get("PrivateZone") and vpcs else None,
                     "name_servers": (full.get("DelegationSet") or {}).get("NameServers") or [],
                     "owned": carries_marks(have, r, session), "tags": visible_tags(have)}
            made_here = str(zone.get("CallerReference", "")).startswith(reference_of(session, r))
            out[r.address] = Observed(attrs, identity={"zone_id": zid, "tags": have,
                                                       "records": int(zone.get("ResourceRecordSetCount") or 0)},
                                      ours=bool(attrs["owned"]) or made_here)
        return out

    @staticmethod
    def _made_by(r53: Any, name: str, reference: str) -> tuple[str, list[str]] | None:
        """The zone a create with `reference` made (its answer lost), found by name and caller reference."""
        listed = r53.list_hosted_zones_by_name(DNSName=name).get("HostedZones") or []
        zone = next((z for z in listed if z.get("CallerReference") == reference), None)
        if zone is None:
            return None
        zid = short_id(zone["Id"])
        full = r53.get_hosted_zone(Id=zid)
        return zid, (full.get("DelegationSet") or {}).get("NameServers") or []

    @staticmethod
    def _created(made: Mapping[str, Any]) -> tuple[str, list[str]]:
        return short_id(made["HostedZone"]["Id"]), (made.get("DelegationSet") or {}).get("NameServers") or []

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        r53 = session.client("route53")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"Name": want["zone_name"], "HostedZoneConfig": {
                    "Comment": want["comment"], "PrivateZone": bool(want["private_vpc_id"])},
                    "CallerReference": f"{reference_of(session, r)}{session.run_id}"[:128]}
                if want["private_vpc_id"]:
                    kwargs["VPC"] = {"VPCRegion": session.region, "VPCId": want["private_vpc_id"]}
                # The caller reference is Route 53's idempotency token; a retry after a lost answer first looks
                # for the zone made with it (Route 53 would refuse the second create: HostedZoneAlreadyExists)
                zid, servers = create_once(
                    f"zone {want['zone_name']}",
                    lambda: self._created(session.client("route53", once=True).create_hosted_zone(**kwargs)),
                    lambda: self._made_by(r53, want["zone_name"], kwargs["CallerReference"]))
                have: Mapping[str, str] = {}
            else:
                zid = str(change.observed.identity["zone_id"])
                have = change.observed.identity.get("tags", {})
                servers = change.observed.attributes.get("name_servers") or []
                if "comment" in {d.name for d in change.diffs}:
                    r53.update_hosted_zone_comment(Id=zid, Comment=want["comment"])
            retag(have, r, session,
                  lambda t: r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                                         AddTags=[{"Key": k, "Value": v} for k, v in t.items()]),
                  lambda keys: r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                                            RemoveTagKeys=keys))
        return Observed({**want, "zone_id": zid, "name_servers": servers}, identity={"zone_id": zid})

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """Records besides the zone's own NS and SOA, not themselves going in this plan: deleting the zone
        would delete them."""
        if change.observed is None:
            return None
        extra = int(change.observed.identity.get("records") or 0) - 2
        leaving = sum(1 for g in going if g.type == "aws.route53_record" and g.observed is not None and
                      g.observed.identity.get("zone_id") == change.observed.identity.get("zone_id"))
        return f"zone {change.observed.attributes.get('zone_name')} holds {extra - leaving} records" \
            if extra - leaving > 0 else None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        r53 = session.client("route53")
        with api_errors(ignore=ZONE_GONE):
            r53.delete_hosted_zone(Id=str(observed.identity["zone_id"]))
