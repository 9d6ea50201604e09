"""`aws.lambda_permission`: one statement of a function's resource policy, letting a service (an events
rule, a topic, a load balancer) invoke it. A statement cannot be changed, only replaced. GetPolicy is
one call per function for all its statements; a statement with the same id that reconcile did not make
is not taken over without `import:`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .child_base import ChildModule
from .common import GONE, api_errors
from .terraform import pick


def statement_id(resource: Resource) -> str:
    return str(resource.get("statement_id") or resource.name)


def _principal(statement: Mapping[str, Any]) -> str:
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        return str(principal.get("Service") or principal.get("AWS") or "")
    return str(principal or "")


class LambdaPermissionModule(ChildModule):
    type_name = "aws.lambda_permission"

    terraform_types = ("aws_lambda_permission",)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        extra = [k for k in ("qualifier", "event_source_token", "principal_org_id", "function_url_auth_type")
                 if values.get(k)]
        if extra:
            raise NotCarried("", f"a permission with {', '.join(extra)}")
        out = pick(values, {k: k for k in ("function_name", "statement_id", "action", "principal", "source_arn")})
        values.get("source_account")
        notes = (f"{self.type_name}.{name}: source_account is not carried",) if values.get("source_account") else ()
        return Adopted(out, f"{values.get('function_name')}/{values.get('statement_id')}", notes=notes)

    def import_identity(self, object_id: str) -> dict[str, Any]:
        """FUNCTION/STATEMENT_ID."""
        function, _, sid = object_id.rpartition("/")
        return {"function_name": function, "statement_id": sid}
    name_attribute = "statement_id"
    requires_replace = frozenset({"function_name", "statement_id", "action", "principal", "source_arn"})
    service, parent_attribute = "lambda", "function_name"

    def physical_key(self, resource: Resource) -> str | None:
        return f"statement {statement_id(resource)} of function {resource.get('function_name')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"function_name": str(r.get("function_name")), "statement_id": statement_id(r),
                "action": str(r.get("action") or "lambda:InvokeFunction"), "principal": str(r.get("principal")),
                "source_arn": str(r.get("source_arn")) if r.get("source_arn") else None}

    def children(self, client: Any, parent: str) -> list[Any]:
        """The statements of the function's resource policy."""
        with api_errors(ignore=GONE):
            return list(json.loads(client.get_policy(FunctionName=parent)["Policy"]).get("Statement") or [])
        return []  # no policy (or no function): no statements

    def recorded(self, resource: Resource) -> str | None:
        if resource.prior:
            return str(resource.prior.get("statement_id") or statement_id(resource))
        return statement_id(resource) if resource.get("import") else None

    def named(self, child: Any, name: str) -> bool:
        return bool(child.get("Sid") == name)

    def same_key(self, resource: Resource, child: Any) -> bool:
        return bool(child.get("Sid") == statement_id(resource))

    def refusal(self, resource: Resource, child: Any) -> str:
        return (f"function {self.parent_of(resource)} already has a statement {child.get('Sid')} not made by "
                f"reconcile; set import: {child.get('Sid')} to take it over")

    def read(self, client: Any, resource: Resource, child: Any) -> Observed:
        function, sid = self.parent_of(resource), str(child.get("Sid"))
        source = ((child.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")
        return Observed({"function_name": function, "statement_id": sid, "action": child.get("Action"),
                         "principal": _principal(child), "source_arn": source},
                        identity={"function_name": function, "statement_id": sid})

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        want = self.desired(r)
        kwargs = {"FunctionName": want["function_name"], "StatementId": want["statement_id"], "Action": want["action"],
                  "Principal": want["principal"]}
        if want["source_arn"]:
            kwargs["SourceArn"] = want["source_arn"]
        with api_errors(ignore=("ResourceConflictException",)):  # already there after a lost answer
            session.client("lambda").add_permission(**kwargs)
        return Observed(want, identity={"function_name": want["function_name"], "statement_id": want["statement_id"]})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("lambda").remove_permission(FunctionName=str(observed.identity["function_name"]),
                                                       StatementId=str(observed.identity["statement_id"]))
