"""`aws.lambda_function`: a function whose code is a local file or directory, zipped deterministically
and compared by hash with what Lambda holds; its runtime settings, environment (which `sensitive:` can
mask), VPC placement, published versions and an alias pointing at the latest one.

ListFunctions is one paginated call for all (configuration and code hash included) and the ownership
tags of every function of the stack come from one Resource Groups Tagging API call; only functions
found by name without those tags cost a ListTags, and only those that publish cost a version listing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
    discover_named,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
    retag,
    stack_resources,
    visible_tags,
)
from .lambda_zip import ARCHIVE, code_of, code_sha256, is_archive
from .policy import scalar_text
from .terraform import first, listed, pick, tags

SETTINGS = {"runtime": "Runtime", "handler": "Handler", "role": "Role", "memory_size": "MemorySize",
            "timeout": "Timeout", "description": "Description"}
DEFAULTS: dict[str, Any] = {"memory_size": 128, "timeout": 3, "description": ""}


def function_name(resource: Resource) -> str:
    return str(resource.get("function_name") or resource.name)


def env_digest(env: Mapping[str, str]) -> dict[str, str]:
    return {"sha256": hashlib.sha256(json.dumps(dict(env), sort_keys=True).encode()).hexdigest()}


def vpc(value: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    if not value or not (value.get("SubnetIds") or value.get("subnet_ids")):
        return None
    return {"subnet_ids": sorted(value.get("subnet_ids") or value.get("SubnetIds") or []),
            "security_group_ids": sorted(value.get("security_group_ids") or value.get("SecurityGroupIds") or [])}


class LambdaFunctionModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.lambda_function"

    terraform_types = ("aws_lambda_function",)
    terraform_computed = frozenset({
        "architectures", "ephemeral_storage", "tracing_config", "package_type", "skip_destroy", "last_modified",
        "logging_config", "snap_start", "reserved_concurrent_executions", "replace_security_groups_on_destroy",
        "replacement_security_group_ids", "source_code_size", "signing_job_arn", "signing_profile_version_arn",
        "qualified_arn", "qualified_invoke_arn", "invoke_arn", "version", "code_sha256", "source_code_hash",
        "kms_key_arn"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        code = [k for k in ("image_uri", "s3_bucket", "layers") if values.get(k)]
        if code or not values.get("filename"):
            raise NotCarried("", f"code from {', '.join(code) or 'no local file'} (aws.lambda_function deploys "
                                 "code from a local file, directory or zip)")
        out = pick(values, {"function_name": "function_name", "runtime": "runtime", "handler": "handler",
                            "role": "role", "memory_size": "memory_size", "timeout": "timeout",
                            "description": "description"})
        archive = f"functions/{name}.zip"
        out["source"] = archive
        variables = first(values, "environment").get("variables")
        if variables:
            out["environment"] = dict(variables)
        network = first(values, "vpc_config")
        if network.get("subnet_ids"):
            out["vpc_config"] = {"subnet_ids": listed(network, "subnet_ids"),
                                 "security_group_ids": listed(network, "security_group_ids")}
        if values.get("publish"):
            out["publish"] = True
        return Adopted({**out, **tags(values)}, str(values["function_name"]), files={
            archive: str(values["filename"])})
    name_attribute = "function_name"
    family = "aws"
    computed = frozenset({"arn", "version", "qualified_arn", "invoke_arn"})
    requires_replace = frozenset({"function_name"})
    not_compared = frozenset({"state", "import", "source", "files", "publish"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"function_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"function {function_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "lambda:function", "function_name")

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        """The code's files, zipped once at load time (a zip archive given as the source is taken as it is): the
        plan compares the zip's hash."""
        source = attributes.get("source")
        if not isinstance(source, str):
            return attributes
        try:
            found = load.local_tree(source)
        except Exception as exc:  # noqa: BLE001 - the loader's own error, said about `source`
            raise load.fail(f"source: {exc}".replace("src ", "")) from None
        if not found:
            raise load.fail(f"source: {source!r} holds no files")
        if len(found) == 1 and not found[0].relative and is_archive(found[0].path):
            files = {ARCHIVE: {"path": str(found[0].path), "mode": found[0].mode, "sha256": found[0].sha256}}
        else:
            files = {(f.relative or f.path.name): {"path": str(f.path), "mode": f.mode, "sha256": f.sha256}
                     for f in found}
        return {**attributes, "files": files, "code_sha256": code_sha256(code_of(files))}

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"function_name": function_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        env = {str(k): scalar_text(v) for k, v in (r.get("environment") or {}).items()}
        out: dict[str, Any] = {"function_name": function_name(r), "code_sha256": r.get("code_sha256"),
                               "environment": env_digest(env) if "environment" in self.secret_attributes(r) else env,
                               "vpc_config": vpc(r.get("vpc_config")), "owned": True, "tags": desired_tags(r)}
        for key in SETTINGS:
            value: Any = r.get(key) if r.get(key) is not None else DEFAULTS.get(key)
            out[key] = int(value) if key in ("memory_size", "timeout") else str(value)
        if r.get("alias"):
            out["alias"] = {"name": str(r.get("alias")), "points_at_latest": True}
        return out

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        lam = session.client("lambda")
        with api_errors():
            functions = {f["FunctionName"]: f for f in session.listed(
                "lambda:functions", lambda: paginate(lam, "list_functions", "Functions"))}
        tagged = dict(stack_resources(session, "lambda:function"))
        names = {r.address: next((n for n in (function_name(r), r.prior.get("function_name")) if n in functions), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, lam, r, functions[str(names[r.address])],
                                                                tagged))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, lam: Any, r: Resource, f: Mapping[str, Any],
              tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        name, arn = f["FunctionName"], f["FunctionArn"]
        tags = tagged.get(arn)
        if tags is None:  # not among the stack's: its tags are read to say whose it is
            with api_errors():
                tags = lam.list_tags(Resource=arn).get("Tags") or {}
        refused = not_ours("function", name, tags, r, session)
        if refused:
            return refused
        env = (f.get("Environment") or {}).get("Variables") or {}
        attrs: dict[str, Any] = {
            "arn": arn, "function_name": name, "code_sha256": f.get("CodeSha256"),
            "environment": env_digest(env) if "environment" in self.secret_attributes(r) else dict(env),
            "vpc_config": vpc(f.get("VpcConfig")), "owned": carries_marks(tags, r, session), "tags": visible_tags(tags),
            "invoke_arn": self._invoke_arn(session, arn),
        }
        for key, field in SETTINGS.items():
            attrs[key] = f.get(field, DEFAULTS.get(key))
        version = "$LATEST"
        if r.get("publish") or r.get("alias"):
            with api_errors():
                versions = [v for v in paginate(lam, "list_versions_by_function", "Versions", FunctionName=name)
                            if v["Version"] != "$LATEST"]
            latest = max(versions, key=lambda v: int(v["Version"]), default=None)
            if latest is not None:
                version = latest["Version"]
                if latest.get("CodeSha256") != f.get("CodeSha256"):  # code changed since the last publish
                    attrs["code_sha256"] = f"{f.get('CodeSha256')} (not published)"
            if r.get("alias"):
                with api_errors(ignore=GONE):
                    alias = None
                    alias = lam.get_alias(FunctionName=name, Name=str(r.get("alias")))
                attrs["alias"] = {"name": str(r.get("alias")),
                                  "points_at_latest": bool(alias and alias["FunctionVersion"] == version)} \
                    if alias else None
        attrs["version"], attrs["qualified_arn"] = version, f"{arn}:{version}"
        return Observed(attrs, identity={"arn": arn, "tags": tags, "function_name": name}, ours=attrs["owned"])

    @staticmethod
    def _invoke_arn(session: AwsSession, arn: str) -> str:
        return f"arn:aws:apigateway:{session.region}:lambda:path/2015-03-31/functions/{arn}/invocations"

    def _zip(self, r: Resource) -> bytes:
        data = code_of(r.get("files") or {})
        if code_sha256(data) != r.get("code_sha256"):
            raise ModuleError(f"the files of {r.get('source')} changed since the plan was made: plan again")
        return data

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        lam = session.client("lambda")
        want = self.desired(r)
        name = function_name(r)
        publish = bool(r.get("publish") or r.get("alias"))
        env = {str(k): scalar_text(v) for k, v in (r.get("environment") or {}).items()}
        config: dict[str, Any] = {field: want[key] for key, field in SETTINGS.items()}
        config["Environment"] = {"Variables": env}
        config["VpcConfig"] = {"SubnetIds": want["vpc_config"]["subnet_ids"],
                               "SecurityGroupIds": want["vpc_config"]["security_group_ids"]} \
            if want["vpc_config"] else {"SubnetIds": [], "SecurityGroupIds": []}
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                code = self._zip(r)
                arn = create_once(
                    f"function {name}",
                    lambda: session.client("lambda", once=True).create_function(
                        FunctionName=name, Code={"ZipFile": code}, Publish=publish, Tags=tags, **config)["FunctionArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                have: Mapping[str, str] = tags
            else:
                arn = str(change.observed.identity["arn"])
                changed = {d.name for d in change.diffs}
                if changed & {*SETTINGS, "environment", "vpc_config"}:
                    lam.update_function_configuration(FunctionName=name, **config)
                    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                               WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                if "code_sha256" in changed:
                    lam.update_function_code(FunctionName=name, ZipFile=self._zip(r))
                    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                               WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                if publish and changed & {*SETTINGS, "environment", "vpc_config", "code_sha256"}:
                    lam.publish_version(FunctionName=name)
                have = change.observed.identity.get("tags", {})
            retag(have, r, session, lambda t: lam.tag_resource(Resource=arn, Tags=t),
                  lambda keys: lam.untag_resource(Resource=arn, TagKeys=keys))
            version = "$LATEST"
            if publish:
                versions = [v["Version"] for v in paginate(lam, "list_versions_by_function", "Versions",
                                                           FunctionName=name) if v["Version"] != "$LATEST"]
                version = max(versions, key=int) if versions else "$LATEST"
            if r.get("alias"):
                self._point_alias(lam, name, str(r.get("alias")), version)
        return Observed({**want, "arn": arn, "version": version, "qualified_arn": f"{arn}:{version}",
                         "invoke_arn": self._invoke_arn(session, arn)},
                        identity={"arn": arn, "function_name": name})

    @staticmethod
    def _point_alias(lam: Any, name: str, alias: str, version: str) -> None:
        try:
            lam.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)
        except lam.exceptions.ResourceNotFoundException:  # no such alias yet
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("lambda").delete_function(FunctionName=str(observed.identity["function_name"]))
