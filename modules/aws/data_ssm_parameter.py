"""data aws.ssm_parameter: a parameter of SSM Parameter Store (a SecureString decrypted with its KMS key),
or with `path:` every parameter under a path, as a map. Ephemeral: the value is read again by every plan
and apply and written nowhere (not the state, not a saved plan, not a log)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws_errors import error_code
from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.aws import AwsSession

from .common import api_errors, paginate

BATCH = 10  # GetParameters takes ten names a call


def _name(q: Resource) -> str:
    """NAME, or NAME:VERSION as GetParameters takes a version."""
    name = str(q.get("parameter"))
    return f"{name}:{q.get('version')}" if q.get("version") is not None else name


class SsmParameterData(DataSource[AwsSession]):
    type_name = "aws.ssm_parameter"
    family = "aws"
    provides = frozenset({"value", "values", "version", "type", "arn"})
    sensitive = frozenset({"value", "values"})
    ephemeral = True

    def read(self, session: AwsSession, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        ssm = session.client("ssm")
        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        named = [q for q in queries if q.get("parameter") is not None]
        for start in range(0, len(named), BATCH):  # one call per ten parameters, decrypted
            chunk = named[start:start + BATCH]
            with api_errors():
                got = ssm.get_parameters(Names=sorted({_name(q) for q in chunk}), WithDecryption=True)
            found = {}
            for p in got.get("Parameters") or []:
                found[p["Name"]] = p
                found[f"{p['Name']}:{p.get('Version')}"] = p
            missing = set(got.get("InvalidParameters") or [])
            for q in chunk:
                p = found.get(_name(q))
                if p is None:
                    why = "does not exist (or this identity may not read it)" if _name(q) in missing else "was not returned"
                    out[q.address] = Unobservable(f"SSM parameter {_name(q)} {why}")
                    continue
                out[q.address] = {"value": p.get("Value"), "version": p.get("Version"), "type": p.get("Type"),
                                  "arn": p.get("ARN")}
        for q in queries:
            if q.get("path") is not None:
                out[q.address] = self._tree(ssm, q)
        return out

    @staticmethod
    def _tree(ssm: Any, q: Resource) -> Mapping[str, Any] | Unobservable:
        """Every parameter under the path: {name relative to the path: value}."""
        path = str(q.get("path")).rstrip("/") or "/"
        try:
            items = paginate(ssm, "get_parameters_by_path", "Parameters", Path=path, WithDecryption=True,
                             Recursive=bool(q.get("recursive", True)))
        except Exception as exc:  # noqa: BLE001 - said as the lookup's error, by its code
            return Unobservable(f"SSM parameters under {path} could not be read ({error_code(exc) or exc})")
        if not items:
            return Unobservable(f"no SSM parameter under {path}")
        prefix = path.rstrip("/") + "/"
        return {"values": {p["Name"].removeprefix(prefix): p.get("Value") for p in items}}
