"""`aws.lambda_function`: a function whose code is a local file or directory, zipped deterministically
and compared by hash with what Lambda holds; its runtime settings, environment (which `sensitive:` can
mask), VPC placement, published versions and an alias pointing at the latest one.

ListFunctions is one paginated call for all (configuration and code hash included) and the ownership
tags of every function of the stack come from one Resource Groups Tagging API call; only functions
found by name without those tags cost a ListTags, and only those that publish cost a version listing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags, paginate
from .lambda_zip import ARCHIVE, code_of, code_sha256, is_archive
from .named_base import TaggedNamedModule
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


class LambdaFunctionModule(TaggedNamedModule):
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
    computed = frozenset({"arn", "version", "qualified_arn", "invoke_arn"})
    requires_replace = frozenset({"function_name"})
    not_compared = frozenset({"state", "import", "source", "files", "publish"})
    service, kind, discover_type, tagging = "lambda", "function", "lambda:function", "lambda:function"
    listing, list_key = ("list_functions", "Functions"), "FunctionName"

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

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return dict(client.list_tags(Resource=item["FunctionArn"]).get("Tags") or {})

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        name, arn = item["FunctionName"], item["FunctionArn"]
        env = (item.get("Environment") or {}).get("Variables") or {}
        settings: dict[str, Any] = {
            "arn": arn, "code_sha256": item.get("CodeSha256"),
            "environment": env_digest(env) if "environment" in self.secret_attributes(resource) else dict(env),
            "vpc_config": vpc(item.get("VpcConfig")), "invoke_arn": invoke_arn(client, arn)}
        for key, field in SETTINGS.items():
            settings[key] = item.get(field, DEFAULTS.get(key))
        version = "$LATEST"
        if resource.get("publish") or resource.get("alias"):
            versions = [v for v in paginate(client, "list_versions_by_function", "Versions", FunctionName=name)
                        if v["Version"] != "$LATEST"]
            latest = max(versions, key=lambda v: int(v["Version"]), default=None)
            if latest is not None:
                version = latest["Version"]
                if latest.get("CodeSha256") != item.get("CodeSha256"):  # code changed since the last publish
                    settings["code_sha256"] = f"{item.get('CodeSha256')} (not published)"
            if resource.get("alias"):
                with api_errors(ignore=GONE):
                    alias = None
                    alias = client.get_alias(FunctionName=name, Name=str(resource.get("alias")))
                settings["alias"] = {"name": str(resource.get("alias")),
                                     "points_at_latest": bool(alias and alias["FunctionVersion"] == version)} \
                    if alias else None
        settings["version"], settings["qualified_arn"] = version, f"{arn}:{version}"
        return settings, {"arn": arn}

    def _zip(self, r: Resource) -> bytes:
        data = code_of(r.get("files") or {})
        if code_sha256(data) != r.get("code_sha256"):
            raise ModuleError(f"the files of {r.get('source')} changed since the plan was made: plan again")
        return data

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        name = want["function_name"]
        made = client.create_function(FunctionName=name, Code={"ZipFile": self._zip(resource)},
                                      Publish=publishes(resource), Tags=tags, **configuration(resource, want))
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        return {"arn": made["FunctionArn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"version"}  # the version published, and the alias pointed at it

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> Mapping[str, Any] | None:
        name = want["function_name"]
        if observed is not None:
            if changed & {*SETTINGS, "environment", "vpc_config"}:
                client.update_function_configuration(FunctionName=name, **configuration(resource, want))
                client.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                              WaiterConfig={"Delay": 1, "MaxAttempts": 300})
            if "code_sha256" in changed:
                client.update_function_code(FunctionName=name, ZipFile=self._zip(resource))
                client.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                              WaiterConfig={"Delay": 1, "MaxAttempts": 300})
            if publishes(resource) and changed & {*SETTINGS, "environment", "vpc_config", "code_sha256"}:
                client.publish_version(FunctionName=name)
        version = "$LATEST"
        if publishes(resource):
            versions = [v["Version"] for v in paginate(client, "list_versions_by_function", "Versions",
                                                       FunctionName=name) if v["Version"] != "$LATEST"]
            version = max(versions, key=int) if versions else "$LATEST"
        if resource.get("alias"):
            self._point_alias(client, name, str(resource.get("alias")), version)
        arn = identity["arn"]
        return {"version": version, "qualified_arn": f"{arn}:{version}", "invoke_arn": invoke_arn(client, arn)}

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_resource(Resource=identity["arn"], Tags=tags)

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_resource(Resource=identity["arn"], TagKeys=keys)

    @staticmethod
    def _point_alias(lam: Any, name: str, alias: str, version: str) -> None:
        try:
            lam.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)
        except lam.exceptions.ResourceNotFoundException:  # no such alias yet
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("lambda").delete_function(FunctionName=str(observed.identity["function_name"]))


def publishes(resource: Resource) -> bool:
    return bool(resource.get("publish") or resource.get("alias"))


def invoke_arn(client: Any, arn: str) -> str:
    """What API Gateway invokes the function by."""
    return f"arn:aws:apigateway:{client.meta.region_name}:lambda:path/2015-03-31/functions/{arn}/invocations"


def configuration(resource: Resource, want: Mapping[str, Any]) -> dict[str, Any]:
    """CreateFunction's and UpdateFunctionConfiguration's settings for the spec's function."""
    env = {str(k): scalar_text(v) for k, v in (resource.get("environment") or {}).items()}
    config: dict[str, Any] = {field: want[key] for key, field in SETTINGS.items()}
    config["Environment"] = {"Variables": env}
    config["VpcConfig"] = {"SubnetIds": want["vpc_config"]["subnet_ids"],
                           "SecurityGroupIds": want["vpc_config"]["security_group_ids"]} \
        if want["vpc_config"] else {"SubnetIds": [], "SecurityGroupIds": []}
    return config
