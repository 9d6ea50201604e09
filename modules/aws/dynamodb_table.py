"""`aws.dynamodb_table`: keys, billing mode, capacity, global secondary indexes, TTL and tags.

ListTables is one paginated call for all; DynamoDB has no batch describe, so each managed table
costs a DescribeTable, a ListTagsOfResource (ownership) and, when the spec sets ttl, a DescribeTimeToLive."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors
from .named_base import TaggedNamedModule
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


class DynamodbTableModule(TaggedNamedModule):
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

    computed = frozenset({"arn", "stream_arn"})
    requires_replace = frozenset({"table_name", "hash_key", "range_key", "attributes"})
    service, kind, discover_type, tagging, snapshots = "dynamodb", "table", "dynamodb:table", "dynamodb:table", True
    listing, arn_param = ("list_tables", "TableNames"), "ResourceArn"  # listed as names

    def listed_name(self, item: Any) -> str:
        return str(item)

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

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        arn = client.describe_table(TableName=item)["Table"]["TableArn"]
        return {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        table = client.describe_table(TableName=item)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        settings: dict[str, Any] = {
            "arn": table["TableArn"], "stream_arn": table.get("LatestStreamArn"),
            "hash_key": keys.get("HASH"), "range_key": keys.get("RANGE"), "billing_mode": mode,
            "attributes": {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])},
            "global_secondary_indexes": gsis_from_api(table, mode == "PROVISIONED")}
        if mode == "PROVISIONED":
            t = table.get("ProvisionedThroughput") or {}
            settings["read_capacity"], settings["write_capacity"] = t.get("ReadCapacityUnits"), t.get("WriteCapacityUnits")
        if resource.get("ttl") is not None:
            ttl = client.describe_time_to_live(TableName=item)["TimeToLiveDescription"]
            settings["ttl"] = {"attribute": ttl.get("AttributeName"), "enabled": ttl.get("TimeToLiveStatus") == "ENABLED"}
        return settings, {"arn": table["TableArn"]}

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": want["table_name"], "KeySchema": key_schema(want["hash_key"], want["range_key"]),
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in want["attributes"].items()],
            "BillingMode": want["billing_mode"], "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        if want["billing_mode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": want["read_capacity"],
                                               "WriteCapacityUnits": want["write_capacity"]}
        if want["global_secondary_indexes"]:
            kwargs["GlobalSecondaryIndexes"] = [self._gsi_api(g) for g in want["global_secondary_indexes"]]
        arn = client.create_table(**kwargs)["TableDescription"]["TableArn"]
        self._wait_active(client, want["table_name"])
        return {"arn": arn}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"ttl"} if "ttl" in want else set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["table_name"]
        if changed & {"billing_mode", "read_capacity", "write_capacity"} and observed is not None:
            update: dict[str, Any] = {"TableName": name, "BillingMode": want["billing_mode"]}
            if want["billing_mode"] == "PROVISIONED":
                update["ProvisionedThroughput"] = {"ReadCapacityUnits": want["read_capacity"],
                                                   "WriteCapacityUnits": want["write_capacity"]}
            client.update_table(**update)
            self._wait_active(client, name)
        if "global_secondary_indexes" in changed and observed is not None:
            self._sync_gsis(client, name, want, observed.attributes.get("global_secondary_indexes") or [])
        if "ttl" in changed and "ttl" in want:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "AttributeName": want["ttl"]["attribute"], "Enabled": want["ttl"]["enabled"]})

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
