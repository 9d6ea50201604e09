"""data aws.secretsmanager_secret: a secret of Secrets Manager (a version stage, AWSCURRENT by default),
its keys readable as `${data.aws.secretsmanager_secret.NAME.json.KEY}` when it holds a JSON object.
Ephemeral: read again by every plan and apply, written nowhere."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws_errors import error_code
from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.aws import AwsSession

from .common import api_errors

BATCH = 20  # BatchGetSecretValue takes twenty ids a call
DEFAULT_STAGE = "AWSCURRENT"


def _answer(q: Resource, got: Mapping[str, Any]) -> Mapping[str, Any]:
    text = got.get("SecretString")
    value: Any = text if text is not None else got.get("SecretBinary")
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        parsed = None
    return {"value": value, "json": parsed if isinstance(parsed, dict) else {}, "arn": got.get("ARN"),
            "version_id": got.get("VersionId"), "version_stage": q.get("version_stage") or DEFAULT_STAGE}


class SecretsManagerSecretData(DataSource[AwsSession]):
    type_name = "aws.secretsmanager_secret"
    family = "aws"
    provides = frozenset({"value", "json", "arn", "version_id"})
    sensitive = frozenset({"value", "json"})
    ephemeral = True

    def read(self, session: AwsSession, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        sm = session.client("secretsmanager")
        out: dict[str, Mapping[str, Any] | Unobservable] = {}
        current = [q for q in queries if (q.get("version_stage") or DEFAULT_STAGE) == DEFAULT_STAGE]
        for start in range(0, len(current), BATCH):  # the current versions: one call per twenty secrets
            chunk = current[start:start + BATCH]
            ids = sorted({str(q.get("secret_id")) for q in chunk})
            try:
                got = sm.batch_get_secret_value(SecretIdList=ids)
            except Exception as exc:  # noqa: BLE001 - an older endpoint without the batch call: one by one
                if error_code(exc) not in ("UnknownOperationException", "InvalidAction", "NotImplemented",
                                           "UnrecognizedClientException", "AccessDeniedException"):
                    raise
                got = None
            if got is None:
                for q in chunk:
                    out[q.address] = self._one(sm, q)
                continue
            by_id: dict[str, Mapping[str, Any]] = {}
            for s in got.get("SecretValues") or []:
                by_id[s.get("Name", "")] = s
                by_id[s.get("ARN", "")] = s
            errors = {e.get("SecretId"): e for e in got.get("Errors") or []}
            for q in chunk:
                sid = str(q.get("secret_id"))
                if sid in by_id:
                    out[q.address] = _answer(q, by_id[sid])
                else:
                    problem = errors.get(sid) or {}
                    out[q.address] = Unobservable(
                        f"secret {sid}: {problem.get('ErrorCode') or 'not returned'}"
                        + (f" ({problem.get('Message')})" if problem.get("Message") else ""))
        for q in queries:
            if q not in current:
                out[q.address] = self._one(sm, q)
        return out

    @staticmethod
    def _one(sm: Any, q: Resource) -> Mapping[str, Any] | Unobservable:
        sid = str(q.get("secret_id"))
        try:
            with api_errors():
                got = sm.get_secret_value(SecretId=sid, VersionStage=str(q.get("version_stage") or DEFAULT_STAGE))
        except Exception as exc:  # noqa: BLE001 - the lookup's own error, naming the secret
            return Unobservable(f"secret {sid}: {exc}")
        return _answer(q, got)
