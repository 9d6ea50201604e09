"""`aws.dynamodb_table`: keys, billing mode, capacity, global secondary indexes, TTL and tags.

ListTables is one paginated call for all; DynamoDB has no batch describe, so each managed table
costs a DescribeTable, a ListTagsOfResource (ownership) and, when the spec sets ttl, a DescribeTimeToLive."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    all_tags_for,
    api_errors,
    carries_marks,
    create_once,
    discover_named,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
    remembered,
    stack_tags,
    with_snapshot,
)
from .policy import text_map
from .terraform import pick, tags


def table_name(resource: Resource) -> str:
    return str(resource.get("table_name") or resource.name)


def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    out = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        out.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return out


def gsis_from_spec(resource: Resource) -> list[dict[str, Any]]:
    out = []
    for g in resource.get("global_secondary_indexes") or []:
        item = {"name": g["name"], "hash_key": g["hash_key"], "range_key": g.get("range_key"),
                "projection": g.get("projection", "ALL")}
        if resource.get("billing_mode", "PAY_PER_REQUEST") == "PROVISIONED":
            item |= {"read_capacity": g.get("read_capacity", 1), "write_capacity": g.get("write_capacity", 1)}
        out.append(item)
    return sorted(out, key=lambda g: g["name"])


def gsis_from_api(table: Mapping[str, Any], provisioned: bool) -> list[dict[str, Any]]:
    out = []
    for g in table.get("GlobalSecondaryIndexes") or []:
        keys = {k["KeyType"]: k["AttributeName"] for k in g["KeySchema"]}
        item = {"name": g["IndexName"], "hash_key": keys.get("HASH"), "range_key": keys.get("RANGE"),
                "projection": (g.get("Projection") or {}).get("ProjectionType", "ALL")}
        if provisioned:
            t = g.get("ProvisionedThroughput") or {}
            item |= {"read_capacity": t.get("ReadCapacityUnits"), "write_capacity": t.get("WriteCapacityUnits")}
        out.append(item)
    return sorted(out, key=lambda g: g["name"])


class DynamodbTableModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.dynamodb_table"
    name_attribute = "table_name"
    terraform_types = ("aws_dynamodb_table",)
    terraform_names = {"table_name": "name"}  # as the provider names them

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        (table,) = super().to_terraform(attributes)
        values = dict(table.values)
        values["attribute"] = [{"name": k, "type": v} for k, v in (attributes.get("attributes") or {}).items()]
        values.pop("attributes", None)
        if "global_secondary_indexes" in values:
            values["global_secondary_index"] = [
                {("projection_type" if k == "projection" else k): v for k, v in index.items()}
                for index in values.pop("global_secondary_indexes") or []]
        if isinstance(attributes.get("ttl"), Mapping):
            values["ttl"] = [{"attribute_name": attributes["ttl"].get("attribute"),
                              "enabled": bool(attributes["ttl"].get("enabled", True))}]
        return (TerraformObject(table.type, "", values),)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        provisioned = values.get("billing_mode") == "PROVISIONED"
        capacity = {"read_capacity": "read_capacity", "write_capacity": "write_capacity"}
        out = pick(values, {"name": "table_name", "hash_key": "hash_key", "range_key": "range_key",
                            "billing_mode": "billing_mode", **(capacity if provisioned else {})})
        out["attributes"] = {a["name"]: a["type"] for a in values.get("attribute") or []}
        indexes = [{**pick(gsi, {"name": "name", "hash_key": "hash_key", "range_key": "range_key",
                                 "projection_type": "projection"}), **(pick(gsi, capacity) if provisioned else {})}
                   for gsi in values.get("global_secondary_index") or []]
        unmanaged: dict[str, str] = {}
        if any(i.get("projection") == "INCLUDE" for i in indexes):
            unmanaged["global_secondary_indexes"] = ("an index projecting chosen attributes (INCLUDE, "
                                                     "non_key_attributes) is not a setting reconcile has")
        elif indexes:
            out["global_secondary_indexes"] = indexes
        ttl = (values.get("ttl") or [{}])[0]
        if ttl.get("enabled") and ttl.get("attribute_name"):
            out["ttl"] = {"attribute": ttl["attribute_name"], "enabled": True}
        return Adopted({**out, **tags(values)}, str(values["name"]), unmanaged=unmanaged)

    family = "aws"
    computed = frozenset({"arn", "stream_arn"})
    requires_replace = frozenset({"table_name", "hash_key", "range_key", "attributes"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"table_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"table {table_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "dynamodb:table", "table_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"table_name": table_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        mode = r.get("billing_mode") or "PAY_PER_REQUEST"
        out: dict[str, Any] = {"hash_key": r.get("hash_key"), "range_key": r.get("range_key"), "billing_mode": mode,
                               "attributes": text_map(r.get("attributes")),
                               "global_secondary_indexes": gsis_from_spec(r), "owned": True, "table_name": table_name(r),
                               "tags": text_map(r.get("tags"))}
        if mode == "PROVISIONED":
            out["read_capacity"] = int(r.get("read_capacity") or 1)
            out["write_capacity"] = int(r.get("write_capacity") or 1)
        if r.get("ttl") is not None:
            out["ttl"] = {"attribute": r.get("ttl").get("attribute"), "enabled": bool(r.get("ttl").get("enabled", True))}
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        db = session.client("dynamodb")
        with api_errors():
            existing = set(paginate(db, "list_tables", "TableNames"))
        names = {r.address: next((n for n in (table_name(r), r.prior.get("table_name")) if n in existing), None)
                 for r in resources}  # the recorded name finds a table the spec renamed
        wanted = [r for r in resources if names[r.address]]
        tagged = stack_tags(session, "dynamodb:table") if wanted else {}
        found = read_each(session, wanted, lambda r: self._read(session, db, r, str(names[r.address]), tagged))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, db: Any, r: Resource, name: str,
              tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        known = remembered(self, session, r, "table_name", name, tagged.get(name))
        if known is not None:  # the spec and the tags are those of the last read or apply
            return known
        with api_errors():
            table = db.describe_table(TableName=name)["Table"]
            tags = dict(tagged[name]) if name in tagged else {
                t["Key"]: t["Value"] for t in db.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])}
            refused = not_ours("table", name, tags, r, session)
            if refused:
                return refused
            keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
            mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            attrs: dict[str, Any] = {
                "arn": table["TableArn"], "stream_arn": table.get("LatestStreamArn"), "table_name": name,
                "hash_key": keys.get("HASH"), "range_key": keys.get("RANGE"), "billing_mode": mode,
                "attributes": {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])},
                "global_secondary_indexes": gsis_from_api(table, mode == "PROVISIONED"),
                "owned": carries_marks(tags, r, session),
                "tags": {k: v for k, v in tags.items() if not k.startswith(("reconcile:", "aws:"))},
            }
            if mode == "PROVISIONED":
                t = table.get("ProvisionedThroughput") or {}
                attrs["read_capacity"], attrs["write_capacity"] = t.get("ReadCapacityUnits"), t.get("WriteCapacityUnits")
            if r.get("ttl") is not None:
                ttl = db.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                attrs["ttl"] = {"attribute": ttl.get("AttributeName"), "enabled": ttl.get("TimeToLiveStatus") == "ENABLED"}
        return with_snapshot(self, r, Observed(attrs, identity={"arn": table["TableArn"], "tags": tags, "table_name": name},
                                               ours=attrs["owned"]))

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        db = session.client("dynamodb")
        want = self.desired(r)
        name = table_name(r)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {
                    "TableName": name, "KeySchema": key_schema(want["hash_key"], want["range_key"]),
                    "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in want["attributes"].items()],
                    "BillingMode": want["billing_mode"],
                    "Tags": all_tags_for(r, session)}
                if want["billing_mode"] == "PROVISIONED":
                    kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": want["read_capacity"],
                                                       "WriteCapacityUnits": want["write_capacity"]}
                if want["global_secondary_indexes"]:
                    kwargs["GlobalSecondaryIndexes"] = [self._gsi_api(g) for g in want["global_secondary_indexes"]]
                arn = create_once(
                    f"table {name}",
                    lambda: session.client("dynamodb", once=True).create_table(**kwargs)["TableDescription"]["TableArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                self._wait_active(db, name)
                changed = {"ttl"} if "ttl" in want else set()
            else:
                arn = change.observed.identity["arn"]
                changed = {d.name for d in change.diffs}
                if changed & {"billing_mode", "read_capacity", "write_capacity"}:
                    update: dict[str, Any] = {"TableName": name, "BillingMode": want["billing_mode"]}
                    if want["billing_mode"] == "PROVISIONED":
                        update["ProvisionedThroughput"] = {"ReadCapacityUnits": want["read_capacity"],
                                                           "WriteCapacityUnits": want["write_capacity"]}
                    db.update_table(**update)
                    self._wait_active(db, name)
                if "global_secondary_indexes" in changed:
                    self._sync_gsis(db, name, want, change.observed.attributes.get("global_secondary_indexes") or [])
                if changed & {"tags", "owned"}:
                    have = change.observed.identity.get("tags", {})
                    target = {**want["tags"], **ownership_tags(r, session)}
                    gone = [k for k in have if k not in target and not k.startswith("aws:")]
                    if gone:
                        db.untag_resource(ResourceArn=arn, TagKeys=gone)
                    db.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in target.items()])
            if "ttl" in changed and "ttl" in want:
                db.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "AttributeName": want["ttl"]["attribute"], "Enabled": want["ttl"]["enabled"]})
        carried = {**want["tags"], **ownership_tags(r, session)}
        return with_snapshot(self, r, Observed({**want, "arn": arn, "table_name": name},
                                               identity={"arn": arn, "table_name": name, "tags": carried}))

    @staticmethod
    def _gsi_api(g: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"IndexName": g["name"], "KeySchema": key_schema(g["hash_key"], g.get("range_key")),
                               "Projection": {"ProjectionType": g["projection"]}}
        if "read_capacity" in g:
            out["ProvisionedThroughput"] = {"ReadCapacityUnits": g["read_capacity"], "WriteCapacityUnits": g["write_capacity"]}
        return out

    def _sync_gsis(self, db: Any, name: str, want: Mapping[str, Any], have: list[dict[str, Any]]) -> None:
        wanted = {g["name"]: g for g in want["global_secondary_indexes"]}
        present = {g["name"]: g for g in have}
        updates: list[dict[str, Any]] = [{"Delete": {"IndexName": n}} for n in present if n not in wanted or present[n] != wanted[n]]
        updates += [{"Create": self._gsi_api(g)} for n, g in wanted.items() if n not in present or present[n] != g]
        attrs = [{"AttributeName": k, "AttributeType": v} for k, v in want["attributes"].items()]
        for update in updates:  # DynamoDB takes one index change per UpdateTable
            db.update_table(TableName=name, AttributeDefinitions=attrs, GlobalSecondaryIndexUpdates=[update])
            self._wait_active(db, name)

    @staticmethod
    def _wait_active(db: Any, name: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            table = db.describe_table(TableName=name)["Table"]
            if table["TableStatus"] == "ACTIVE" and all(
                    g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in table.get("GlobalSecondaryIndexes") or []):
                return
            time.sleep(1)
        raise ModuleError(f"table {name} not ACTIVE after {timeout:.0f}s")

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A table with items: deleting it deletes them."""
        if change.observed is None:
            return None
        name = str(change.observed.identity.get("table_name") or "")
        with api_errors():
            found = session.client("dynamodb").scan(TableName=name, Limit=1, Select="COUNT")
        return f"table {name} holds items" if found.get("Count") else None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        db = session.client("dynamodb")
        name = str(observed.identity.get("table_name") or table_name(resource))
        with api_errors(ignore=GONE):
            db.delete_table(TableName=name)
            db.get_waiter("table_not_exists").wait(TableName=name,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 600})
