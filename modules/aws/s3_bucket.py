"""`aws.s3_bucket`: a bucket and its versioning, encryption, public access block, lifecycle rules,
policy and tags. One ListBuckets call finds them all and one Tagging API call brings the ownership tags
of the stack's buckets (a bucket not among them, another's or ours untagged behind our back, has its
tags read on its own); S3 has no batch read of bucket settings, so each managed bucket costs one call
per setting the spec manages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws_errors import error_code
from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    all_tags_for,
    api_errors,
    carries_marks,
    create_once,
    discover_named,
    not_ours,
    read_each,
    stack_tags,
)
from .policy import normalize_policy, text_map
from .terraform import first, pick, renamed, tags
from .terraform import json_value as tf_json

PAB_KEYS = {"block_public_acls": "BlockPublicAcls", "ignore_public_acls": "IgnorePublicAcls",
            "block_public_policy": "BlockPublicPolicy", "restrict_public_buckets": "RestrictPublicBuckets"}


def bucket_name(resource: Resource) -> str:
    return str(resource.get("bucket") or resource.name)


def lifecycle_to_api(rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        api: dict[str, Any] = {"ID": str(rule["id"]), "Status": "Enabled" if rule.get("enabled", True) else "Disabled",
                               "Filter": {"Prefix": str(rule.get("prefix", ""))}}
        if rule.get("expiration_days") is not None:
            api["Expiration"] = {"Days": int(rule["expiration_days"])}
        if rule.get("noncurrent_version_expiration_days") is not None:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["noncurrent_version_expiration_days"])}
        out.append(api)
    return out


def lifecycle_from_api(rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rules:
        rule: dict[str, Any] = {"id": r.get("ID"), "enabled": r.get("Status") == "Enabled",
                                "prefix": (r.get("Filter") or {}).get("Prefix", r.get("Prefix", ""))}
        if "Expiration" in r and "Days" in r["Expiration"]:
            rule["expiration_days"] = r["Expiration"]["Days"]
        if "NoncurrentVersionExpiration" in r:
            rule["noncurrent_version_expiration_days"] = r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        out.append(rule)
    return sorted(out, key=lambda x: str(x["id"]))


class S3BucketModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.s3_bucket"
    name_attribute = "bucket"
    terraform_types = ("aws_s3_bucket",)
    terraform_parts = ("aws_s3_bucket_versioning", "aws_s3_bucket_public_access_block", "aws_s3_bucket_policy",
                       "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_lifecycle_configuration",
                       "aws_s3_bucket_ownership_controls", "aws_s3_bucket_logging", "aws_s3_bucket_acl")
    terraform_computed = frozenset({
        "bucket_domain_name", "bucket_regional_domain_name", "hosted_zone_id", "request_payer", "acceleration_status",
        "object_lock_enabled", "website_endpoint", "website_domain", "acl", "grant", "bucket_prefix"})

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        """The bucket and the provider's resources it splits a bucket into (versioning, default encryption,
        policy, public access block, lifecycle), as scanners read them."""
        bucket = attributes.get("bucket")
        out = [TerraformObject("aws_s3_bucket", "", renamed(
            {k: v for k, v in attributes.items() if k in ("bucket", "force_destroy", "tags")}, {}))]
        if "versioning" in attributes:
            out.append(TerraformObject("aws_s3_bucket_versioning", "_versioning", {
                "bucket": bucket,
                "versioning_configuration": [{"status": "Enabled" if attributes["versioning"] else "Suspended"}]}))
        if attributes.get("server_side_encryption"):
            out.append(TerraformObject("aws_s3_bucket_server_side_encryption_configuration", "_encryption", {
                "bucket": bucket, "rule": [{"apply_server_side_encryption_by_default": [
                    {"sse_algorithm": attributes["server_side_encryption"]}]}]}))
        if attributes.get("policy") is not None:
            policy = attributes["policy"]
            out.append(TerraformObject("aws_s3_bucket_policy", "_policy", {
                "bucket": bucket, "policy": policy if isinstance(policy, str) else json.dumps(policy)}))
        if isinstance(attributes.get("public_access_block"), Mapping):
            out.append(TerraformObject("aws_s3_bucket_public_access_block", "_public_access_block", {
                "bucket": bucket, **{k: bool(attributes["public_access_block"].get(k, False)) for k in (
                    "block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")}}))
        if attributes.get("lifecycle_rules"):
            out.append(TerraformObject("aws_s3_bucket_lifecycle_configuration", "_lifecycle", {
                "bucket": bucket, "rule": list(attributes["lifecycle_rules"])}))
        return tuple(out)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        """The bucket, with what its own (older, inline) blocks say AWS holds: versioning, default encryption,
        policy and lifecycle rules (the split resources below fold in the same way)."""
        out = pick(values, {"bucket": "bucket"})
        if values.get("force_destroy"):
            out["force_destroy"] = True
        unmanaged: dict[str, str] = {}
        if first(values, "versioning").get("enabled"):
            out["versioning"] = True
        rule = first(first(values, "server_side_encryption_configuration"), "rule")
        algorithm = first(rule, "apply_server_side_encryption_by_default").get("sse_algorithm")
        if algorithm in ("AES256", "aws:kms"):
            out["server_side_encryption"] = algorithm
        if values.get("policy"):
            out["policy"] = tf_json(values["policy"])
        if values.get("lifecycle_rule"):
            try:
                out["lifecycle_rules"] = [self._lifecycle_rule(r, inline=True) for r in values["lifecycle_rule"]]
            except NotCarried as exc:
                unmanaged[exc.attribute] = exc.reason
        notes = [f"{self.type_name}.{name}: {key} is not carried (reconcile leaves it as it is)" for key in (
            "cors_rule", "website", "replication_configuration", "object_lock_configuration", "logging")
            if values.get(key)]
        return Adopted({**out, **tags(values)}, str(values["bucket"]), notes=tuple(notes), unmanaged=unmanaged)

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("bucket") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if part_type == "aws_s3_bucket_versioning":
            attributes["versioning"] = first(values, "versioning_configuration").get("status") == "Enabled"
        elif part_type == "aws_s3_bucket_public_access_block":
            attributes["public_access_block"] = pick(values, {k: k for k in (
                "block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")},
                skip_empty=False)
        elif part_type == "aws_s3_bucket_policy":
            attributes["policy"] = tf_json(values.get("policy"))
        elif part_type == "aws_s3_bucket_server_side_encryption_configuration":
            default = first(first(values, "rule"), "apply_server_side_encryption_by_default")
            if default.get("sse_algorithm") not in ("AES256", "aws:kms") or default.get("kms_master_key_id"):
                raise NotCarried("server_side_encryption", "encryption with a chosen KMS key (or DSSE) is not a "
                                                           "setting reconcile has")
            attributes["server_side_encryption"] = default["sse_algorithm"]
        elif part_type == "aws_s3_bucket_lifecycle_configuration":
            attributes["lifecycle_rules"] = [self._lifecycle_rule(r) for r in values.get("rule") or []]
        else:
            raise NotCarried({"aws_s3_bucket_ownership_controls": "object ownership",
                              "aws_s3_bucket_logging": "access logging",
                              "aws_s3_bucket_acl": "the bucket ACL"}[part_type],
                             "not a setting of aws.s3_bucket (reconcile leaves it as it is)")

    @staticmethod
    def _lifecycle_rule(rule: Mapping[str, Any], inline: bool = False) -> dict[str, Any]:
        """One of Terraform's lifecycle rules in the spec's form; transitions, tags and size filters cannot be."""
        extra = [k for k in ("transition", "noncurrent_version_transition", "abort_incomplete_multipart_upload",
                             "abort_incomplete_multipart_upload_days", "tags") if rule.get(k)]
        filters = first(rule, "filter")
        extra += [k for k in ("tag", "and", "object_size_greater_than", "object_size_less_than") if filters.get(k)]
        expiration = first(rule, "expiration")
        if expiration.get("date") or expiration.get("expired_object_delete_marker"):
            extra.append("expiration by date or delete marker")
        if extra:
            raise NotCarried("lifecycle_rules", f"a lifecycle rule with {', '.join(extra)} is not a setting "
                                                "reconcile has")
        out: dict[str, Any] = {"id": str(rule.get("id") or "rule"),
                               "enabled": bool(rule.get("enabled")) if inline else rule.get("status") == "Enabled"}
        prefix = rule.get("prefix") or filters.get("prefix")
        if prefix:
            out["prefix"] = prefix
        if expiration.get("days"):
            out["expiration_days"] = int(expiration["days"])
        older = first(rule, "noncurrent_version_expiration")
        days = older.get("noncurrent_days") or older.get("days")
        if days:
            out["noncurrent_version_expiration_days"] = int(days)
        return out

    family = "aws"
    computed = frozenset({"arn", "bucket_domain_name"})
    requires_replace = frozenset({"bucket"})
    not_compared = frozenset({"state", "import", "force_destroy"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"bucket": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"bucket {bucket_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "s3", "bucket")

    def planned(self, resource: Resource) -> dict[str, Any]:
        name = bucket_name(resource)
        return {"bucket": name, "arn": f"arn:aws:s3:::{name}"}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"tags": text_map(r.get("tags")), "owned": True,
                               "bucket": bucket_name(r)}
        if r.get("versioning") is not None:
            out["versioning"] = bool(r.get("versioning"))
        if r.get("server_side_encryption") is not None:
            out["server_side_encryption"] = r.get("server_side_encryption")
        if r.get("public_access_block") is not None:
            out["public_access_block"] = {k: bool(r.get("public_access_block").get(k, False)) for k in PAB_KEYS}
        if r.get("lifecycle_rules") is not None:
            out["lifecycle_rules"] = lifecycle_from_api(lifecycle_to_api(r.get("lifecycle_rules")))
        if r.get("policy") is not None:
            out["policy"] = normalize_policy(r.get("policy"))
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        s3 = session.client("s3")
        with api_errors():
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        names = {r.address: self._current_name(r, existing) for r in resources}
        wanted = [r for r in resources if names[r.address]]
        tagged = stack_tags(session, "s3") if wanted else {}
        found = read_each(session, wanted, lambda r: self._read(session, s3, r, str(names[r.address]), tagged))
        return {r.address: found.get(r.address) for r in resources}

    @staticmethod
    def _current_name(r: Resource, existing: set[str]) -> str | None:
        """The bucket's name now, or the name the state recorded (the spec renamed it: a replacement)."""
        for name in (bucket_name(r), r.prior.get("bucket")):
            if name in existing:
                return str(name)
        return None

    def _read(self, session: AwsSession, s3: Any, r: Resource, name: str,
              tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        with api_errors():
            try:
                tags = dict(tagged[name]) if name in tagged else \
                    {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
            except Exception as exc:
                if error_code(exc) != "NoSuchTagSet":
                    raise
                tags = {}
            refused = not_ours("bucket", name, tags, r, session)
            if refused:
                return refused
            attrs: dict[str, Any] = {"bucket": name, "arn": f"arn:aws:s3:::{name}", "owned": carries_marks(tags, r, session),
                                     "tags": {k: v for k, v in tags.items() if not k.startswith(("reconcile:", "aws:"))},
                                     "bucket_domain_name": f"{name}.s3.amazonaws.com"}
            if r.get("versioning") is not None:
                attrs["versioning"] = s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
            if r.get("server_side_encryption") is not None:
                attrs["server_side_encryption"] = self._optional(
                    lambda: s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
                    ["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])
            if r.get("public_access_block") is not None:
                pab = self._optional(lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"])
                attrs["public_access_block"] = {k: bool((pab or {}).get(v, False)) for k, v in PAB_KEYS.items()}
            if r.get("lifecycle_rules") is not None:
                rules = self._optional(lambda: s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"])
                attrs["lifecycle_rules"] = lifecycle_from_api(rules or [])
            if r.get("policy") is not None:
                policy = self._optional(lambda: s3.get_bucket_policy(Bucket=name)["Policy"])
                attrs["policy"] = normalize_policy(policy) if policy else None
        return Observed(attrs, identity={"bucket": name, "tags": tags}, ours=attrs["owned"])

    @staticmethod
    def _exists(s3: Any, name: str) -> dict[str, Any] | None:
        """After a create whose answer was lost: is the bucket there now (ours: this account just made it)?"""
        try:
            s3.head_bucket(Bucket=name)
            return {}
        except Exception:  # noqa: BLE001 - any failure: not there (yet)
            return None

    @staticmethod
    def _optional(read: Any) -> Any:
        """None when the setting is not configured (S3 answers with an error then)."""
        try:
            return read()
        except Exception as exc:
            if error_code(exc).startswith("NoSuch") or "NotFound" in error_code(exc):
                return None
            raise

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        s3 = session.client("s3")
        name = bucket_name(r)
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"Bucket": name}
                if session.region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": session.region}
                create_once(f"bucket {name}", lambda: session.client("s3", once=True).create_bucket(**kwargs),
                            lambda: self._exists(s3, name))
                changed = set(want)
            else:
                changed = {d.name for d in change.diffs}
            if changed & {"tags", "owned"}:
                s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": all_tags_for(r, session)})
            if "versioning" in changed:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
                    "Status": "Enabled" if want["versioning"] else "Suspended"})
            if "server_side_encryption" in changed:
                s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": want["server_side_encryption"]}}]})
            if "public_access_block" in changed:
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                    v: want["public_access_block"][k] for k, v in PAB_KEYS.items()})
            if "lifecycle_rules" in changed:
                if want["lifecycle_rules"]:
                    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
                        "Rules": lifecycle_to_api(r.get("lifecycle_rules"))})
                else:
                    s3.delete_bucket_lifecycle(Bucket=name)
            if "policy" in changed:
                policy = r.get("policy")
                s3.put_bucket_policy(Bucket=name, Policy=policy if isinstance(policy, str) else json.dumps(policy))
        return Observed({**want, "bucket": name, "arn": f"arn:aws:s3:::{name}"}, identity={"bucket": name})

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A bucket that holds objects (any version): deleting it deletes them."""
        if change.observed is None or (change.resource is not None and change.resource.get("force_destroy")):
            return None
        name = str(change.observed.identity.get("bucket") or "")
        with api_errors():
            listed = session.client("s3").list_object_versions(Bucket=name, MaxKeys=1)
        if listed.get("Versions") or listed.get("DeleteMarkers"):
            return f"bucket {name} is not empty"
        return None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        """Empties the bucket first: the plan refused to get here unless that loss was accepted."""
        s3 = session.client("s3")
        name = str(observed.identity.get("bucket") or bucket_name(resource))
        with api_errors(ignore=GONE):
            versions = s3.list_object_versions(Bucket=name)
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
            while objects:
                s3.delete_objects(Bucket=name, Delete={"Objects": objects[:1000]})
                versions = s3.list_object_versions(Bucket=name)
                objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                           for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
            s3.delete_bucket(Bucket=name)
