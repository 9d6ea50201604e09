"""`aws.rds_instance`: a database instance, found in one paginated DescribeDBInstances (its tags come
with it). The master password cannot be read back: a salted hash of it is kept in the
reconcile:password tag, so a changed password in the spec is seen and set, and never shown."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, Module, TerraformObject
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession

from .common import GONE, all_tags_for, api_errors, carries_marks, create_once, not_ours, ours_now, paginate
from .policy import text_map
from .terraform import pick, renamed, tags

PASSWORD_TAG = "reconcile:password"
WAIT = {"Delay": 5, "MaxAttempts": 720}
IN_PLACE = {"engine_version": "EngineVersion", "instance_class": "DBInstanceClass",
            "allocated_storage": "AllocatedStorage", "backup_retention_period": "BackupRetentionPeriod",
            "deletion_protection": "DeletionProtection", "vpc_security_group_ids": "VpcSecurityGroupIds",
            "multi_az": "MultiAZ", "db_parameter_group_name": "DBParameterGroupName"}


def identifier(resource: Resource) -> str:
    return str(resource.get("db_instance_identifier") or resource.name)


def final_snapshot(resource: Resource | None, ident: str | None = None) -> str:
    """The name of the snapshot taken when the instance is deleted: given, or `<identifier>-final-<date>`."""
    given = resource.get("final_snapshot_identifier") if resource is not None else None
    if given:
        return str(given)
    name = ident or (identifier(resource) if resource is not None else "db")
    return f"{name}-final-{time.strftime('%Y%m%d%H%M%S')}"


def password_tag(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{salt}:{hashlib.sha256((salt + password).encode()).hexdigest()[:40]}"


class RdsInstanceModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.rds_instance"
    name_attribute = "db_instance_identifier"
    terraform_types = ("aws_db_instance",)

    terraform_computed = frozenset({
        "address", "endpoint", "hosted_zone_id", "resource_id", "status", "latest_restorable_time", "listener_endpoint",
        "master_user_secret", "ca_cert_identifier", "engine_version_actual", "option_group_name", "port",
        "availability_zone", "license_model", "maintenance_window", "backup_window", "storage_type", "iops",
        "storage_throughput", "network_type", "apply_immediately", "auto_minor_version_upgrade", "copy_tags_to_snapshot",
        "db_name", "identifier_prefix", "character_set_name", "nchar_character_set_name", "delete_automated_backups",
        "performance_insights_retention_period", "monitoring_interval", "dedicated_log_volume", "engine_lifecycle_support",
        "upgrade_storage_config", "max_allocated_storage", "timezone", "multi_tenant", "password_wo_version"})

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        values = renamed(attributes, {"db_instance_identifier": "identifier", "master_username": "username",
                                      "master_password": "password",
                                      "db_parameter_group_name": "parameter_group_name"})
        values.setdefault("storage_encrypted", False)  # the provider's default, which scanners read
        return (TerraformObject("aws_db_instance", "", values),)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"identifier": "db_instance_identifier", "engine": "engine",
                            "engine_version": "engine_version", "instance_class": "instance_class",
                            "allocated_storage": "allocated_storage", "username": "master_username",
                            "db_subnet_group_name": "db_subnet_group_name",
                            "parameter_group_name": "db_parameter_group_name", "kms_key_id": "kms_key_id",
                            "backup_retention_period": "backup_retention_period",
                            "final_snapshot_identifier": "final_snapshot_identifier"}, skip_empty=True)
        for key in ("multi_az", "storage_encrypted", "deletion_protection", "skip_final_snapshot"):
            if values.get(key) is not None:
                out[key] = bool(values[key])
        if str(out.get("db_parameter_group_name", "")).startswith("default."):
            del out["db_parameter_group_name"]  # the engine's default group: AWS's choice, not a setting
        if values.get("vpc_security_group_ids"):
            out["vpc_security_group_ids"] = sorted(values["vpc_security_group_ids"])
        variable = re.sub(r"[^A-Za-z0-9]+", "_", name).upper() + "_MASTER_PASSWORD"  # the spec reads it from there
        notes = [f"{self.type_name}.{name}: the master password is read from ${variable} (Terraform's state held "
                 "it in clear; the spec never does)"]
        if values.get("manage_master_user_password"):
            notes.append(f"{self.type_name}.{name}: the password Secrets Manager manages is not carried: set "
                         f"${variable} to it, or take master_password out of the spec")
        password = values.get("password")
        identity = {"master_password": password_tag(str(password))} if password else {}  # a salted hash only
        return Adopted({**out, **tags(values)}, str(values["identifier"]), {"master_password": variable},
                       tuple(notes), identity=identity)

    family = "aws"
    sensitive = frozenset({"master_password"})
    computed = frozenset({"arn", "endpoint_address", "endpoint_port"})
    requires_replace = frozenset({"engine", "master_username", "db_subnet_group_name", "db_instance_identifier",
                                  "storage_encrypted", "kms_key_id"})
    not_compared = frozenset({"state", "import", "skip_final_snapshot", "final_snapshot_identifier"})
    observe_unresolved = True

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"db_instance_identifier": identifier(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"engine": r.get("engine"), "instance_class": r.get("instance_class"),
                               "allocated_storage": int(r.get("allocated_storage")),
                               "master_username": r.get("master_username"), "master_password": r.get("master_password"),
                               "db_instance_identifier": identifier(r),
                               "backup_retention_period": int(r.get("backup_retention_period", 1)),
                               "deletion_protection": bool(r.get("deletion_protection", False)), "owned": True,
                               "multi_az": bool(r.get("multi_az", False)),
                               "storage_encrypted": bool(r.get("storage_encrypted", False)),
                               "tags": text_map(r.get("tags"))}
        for key in ("engine_version", "db_subnet_group_name", "db_parameter_group_name", "kms_key_id"):
            if r.get(key) is not None:
                out[key] = r.get(key)
        if r.get("vpc_security_group_ids") is not None:
            out["vpc_security_group_ids"] = sorted(r.get("vpc_security_group_ids"))
        return out

    def equal(self, name: str, desired: Any, observed: Any) -> bool:
        if name == "master_password":  # observed is the salted hash from the tag
            if not isinstance(observed, str) or ":" not in observed:
                return False
            return password_tag(str(desired), observed.split(":", 1)[0]) == observed
        return bool(desired == observed)


    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"db_instance_identifier": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"DB instance {identifier(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        with api_errors():
            instances = paginate(session.client("rds"), "describe_db_instances", "DBInstances")
        out = {}
        for d in instances:
            tags = {t["Key"]: t["Value"] for t in d.get("TagList") or []}
            if tags.get(STACK_TAG) == session.stack and OWNER_TAG in tags:
                out[tags[OWNER_TAG]] = {"db_instance_identifier": d["DBInstanceIdentifier"],
                                        "arn": d.get("DBInstanceArn"), "tags": tags}
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        rds = session.client("rds")
        with api_errors():
            instances = {d["DBInstanceIdentifier"]: d for d in paginate(rds, "describe_db_instances", "DBInstances")}
        out: dict[str, Any] = {}
        for r in resources:
            d = instances.get(identifier(r)) or instances.get(str(r.prior.get("db_instance_identifier")))
            if d is None or d.get("DBInstanceStatus") == "deleting":
                out[r.address] = None
                continue
            tags = {t["Key"]: t["Value"] for t in d.get("TagList") or []}
            refused = not_ours("DB instance", d["DBInstanceIdentifier"], tags, r, session)
            if refused:
                out[r.address] = refused
                continue
            endpoint = d.get("Endpoint") or {}
            out[r.address] = Observed({
                "arn": d.get("DBInstanceArn"), "engine": d.get("Engine"), "engine_version": d.get("EngineVersion"),
                "db_instance_identifier": d["DBInstanceIdentifier"],
                "instance_class": d.get("DBInstanceClass"), "allocated_storage": d.get("AllocatedStorage"),
                "master_username": d.get("MasterUsername"),
                # the salted hash reconcile tagged it with; for a database adopted from Terraform, the one its
                # adoption recorded (of the password Terraform's state held)
                "master_password": tags.get(PASSWORD_TAG) or r.prior.get("master_password"),
                "backup_retention_period": d.get("BackupRetentionPeriod"),
                "deletion_protection": bool(d.get("DeletionProtection")),
                "db_subnet_group_name": (d.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
                "multi_az": bool(d.get("MultiAZ")), "storage_encrypted": bool(d.get("StorageEncrypted")),
                "kms_key_id": d.get("KmsKeyId"),
                "db_parameter_group_name": ((d.get("DBParameterGroups") or [{}])[0]).get("DBParameterGroupName"),
                "vpc_security_group_ids": sorted(g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups") or []),
                "endpoint_address": endpoint.get("Address"), "endpoint_port": endpoint.get("Port"),
                "tags": {k: v for k, v in tags.items() if not k.startswith(("reconcile:", "aws:"))},
                "owned": carries_marks(tags, r, session),
            }, identity={"arn": d.get("DBInstanceArn"), "tags": tags, "db_instance_identifier": d["DBInstanceIdentifier"],
                         # an adopted database's recorded hash stays recorded until reconcile sets a password
                         **({"master_password": r.prior["master_password"]}
                            if r.prior.get("master_password") and not tags.get(PASSWORD_TAG) else {})},
                ours=carries_marks(tags, r, session))
        return out

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        rds = session.client("rds")
        want = self.desired(r)
        ident = identifier(r)
        secret_tag = {"Key": PASSWORD_TAG, "Value": password_tag(str(want["master_password"]))}
        tags = all_tags_for(r, session)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {
                    "DBInstanceIdentifier": ident, "Engine": want["engine"], "DBInstanceClass": want["instance_class"],
                    "AllocatedStorage": want["allocated_storage"], "MasterUsername": want["master_username"],
                    "MasterUserPassword": str(want["master_password"]), "Tags": tags + [secret_tag],
                    "BackupRetentionPeriod": want["backup_retention_period"],
                    "DeletionProtection": want["deletion_protection"], "MultiAZ": want["multi_az"],
                    "StorageEncrypted": want["storage_encrypted"]}
                for key, api in (("engine_version", "EngineVersion"), ("db_subnet_group_name", "DBSubnetGroupName"),
                                 ("vpc_security_group_ids", "VpcSecurityGroupIds"), ("kms_key_id", "KmsKeyId"),
                                 ("db_parameter_group_name", "DBParameterGroupName")):
                    if key in want:
                        kwargs[api] = want[key]
                arn = create_once(
                    f"DB instance {ident}",
                    lambda: session.client("rds", once=True).create_db_instance(**kwargs)["DBInstance"]["DBInstanceArn"],
                    lambda: (o.identity.get("arn") if (o := ours_now(self, session, r)) else None))
            else:
                arn = change.observed.identity["arn"]
                changed = {d.name for d in change.diffs}
                modify: dict[str, Any] = {api: want[k] for k, api in IN_PLACE.items() if k in changed and k in want}
                if "master_password" in changed:
                    modify["MasterUserPassword"] = str(want["master_password"])
                if modify:
                    rds.modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True, **modify)
                if changed & {"tags", "master_password", "owned"}:
                    current = change.observed.identity.get("tags", {})
                    keep = {t["Key"] for t in tags} | ({PASSWORD_TAG} if "master_password" not in changed else set())
                    gone = [k for k in current if k not in keep and not k.startswith("aws:")]
                    if gone:
                        rds.remove_tags_from_resource(ResourceName=arn, TagKeys=gone)
                    rds.add_tags_to_resource(ResourceName=arn, Tags=tags + (
                        [secret_tag] if "master_password" in changed else []))
            rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=ident, WaiterConfig=WAIT)
        return Observed({**want, "arn": arn, "master_password": secret_tag["Value"]},
                        identity={"arn": arn, "db_instance_identifier": ident})

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A database always holds data; a final snapshot is taken unless skip_final_snapshot is set."""
        if change.observed is None:
            return None
        ident = change.observed.identity.get("db_instance_identifier")
        skip = bool(change.resource.get("skip_final_snapshot")) if change.resource is not None else False
        return f"DB instance {ident} holds a database" + (" and skip_final_snapshot is set" if skip else
                                                          f" (a final snapshot {final_snapshot(change.resource, ident)} is taken)")

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        if observed.attributes.get("deletion_protection"):
            raise ModuleError(f"DB instance {identifier(resource)} has deletion_protection: set it to false "
                              "and apply before removing it")
        rds = session.client("rds")
        ident = str(observed.identity.get("db_instance_identifier") or identifier(resource))
        with api_errors(ignore=GONE):
            if resource.get("skip_final_snapshot"):
                rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
            else:
                rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=False,
                                       FinalDBSnapshotIdentifier=final_snapshot(resource, ident))
            rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=ident, WaiterConfig=WAIT)
