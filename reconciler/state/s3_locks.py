"""The apply lock of a state in S3: an object created only if absent (S3Lock), or an item of a DynamoDB
table (DynamoLock, as Terraform's S3 backend uses); `force-unlock ID` removes a stale one."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from reconciler.aws_errors import error_code, failures
from reconciler.errors import StateError, StateLockedError
from reconciler.state.records import (
    now_text,
)
from reconciler.state.run_history import run_user
from reconciler.state.s3_bucket import S3Config, backend_error, s3_client

log = logging.getLogger(__name__)


@dataclass
class S3Lock:
    """The apply lock as an object created only if absent; `force-unlock ID` removes a stale one."""

    config: S3Config
    operation: str = "apply"
    client: Any = None  # as S3StateStore's

    def __post_init__(self) -> None:
        self.s3 = self.client if self.client is not None else s3_client(self.config)
        self.key = f"{self.config.key}.lock"
        self.id: str | None = None

    def info(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.s3.get_object(Bucket=self.config.bucket, Key=self.key)["Body"].read()))
        except failures(ValueError) as exc:  # sorted by code; a damaged body is reported as such
            code = error_code(exc)
            if code in ("NoSuchKey", "404"):
                return None
            raise backend_error(self.config, exc, "reading the lock of") from None

    def acquire(self) -> None:
        lock_id = str(uuid.uuid4())
        body = {"id": lock_id, "operation": self.operation, "who": run_user(), "host": socket.gethostname(),
                "pid": os.getpid(), "since": now_text(), "path": self.config.location}
        try:
            self.s3.put_object(Bucket=self.config.bucket, Key=self.key, Body=json.dumps(body).encode(),
                               IfNoneMatch="*")
        except failures() as exc:  # sorted by code
            code = error_code(exc)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                held = self.info() or {}
                if held.get("id") == lock_id:  # a retried create whose first answer was lost: ours
                    self.id = lock_id
                    return
                raise StateLockedError(
                    f"the state {self.config.location} is locked by {held.get('operation', 'a run')} of "
                    f"{held.get('who', '?')} on host {held.get('host', '?')} (pid {held.get('pid', '?')}) since "
                    f"{held.get('since', '?')}, lock id {held.get('id', '?')}; wait for it to finish, or if that run "
                    f"died: reconcile force-unlock {held.get('id', 'ID')}") from None
            raise backend_error(self.config, exc, "locking") from None
        self.id = lock_id

    def release(self) -> None:
        if self.id is None:
            return
        held = self.info()
        if held is not None and held.get("id") == self.id:
            try:
                self.s3.delete_object(Bucket=self.config.bucket, Key=self.key)
            except failures() as exc:  # reported; force-unlock can clean up
                log.warning("could not release the lock %s: %s", self.id, exc)
        self.id = None

    def force_unlock(self, lock_id: str) -> dict[str, Any]:
        held = self.info()
        if held is None:
            raise StateError(f"the state {self.config.location} is not locked")
        if held.get("id") != lock_id:
            raise StateError(f"the lock on {self.config.location} has id {held.get('id')}, not {lock_id}")
        self._remove()
        return held

    def _remove(self) -> None:
        """Remove the lock whoever holds it (force_unlock has checked its id)."""
        self.s3.delete_object(Bucket=self.config.bucket, Key=self.key)

    def __enter__(self) -> S3Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class DynamoLock(S3Lock):
    """The same lock held as an item of a DynamoDB table (hash key LockID), for stores without
    conditional writes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.db = s3_client(self.config, "dynamodb")
        self.key = f"{self.config.bucket}/{self.config.key}"  # the LockID Terraform's S3 backend uses too

    def info(self) -> dict[str, Any] | None:
        try:
            item = self.db.get_item(TableName=self.config.lock_table, Key={"LockID": {"S": self.key}},
                                    ConsistentRead=True).get("Item")
        except failures() as exc:
            raise backend_error(self.config, exc, f"reading the lock table {self.config.lock_table} for") from None
        return json.loads(item["Info"]["S"]) if item else None

    def acquire(self) -> None:
        lock_id = str(uuid.uuid4())
        body = {"id": lock_id, "operation": self.operation, "who": run_user(), "host": socket.gethostname(),
                "pid": os.getpid(), "since": now_text(), "path": self.config.location}
        try:
            self.db.put_item(TableName=self.config.lock_table,
                             Item={"LockID": {"S": self.key}, "Info": {"S": json.dumps(body)}},
                             ConditionExpression="attribute_not_exists(LockID)")
        except failures() as exc:  # sorted by code
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                held = self.info() or {}
                raise StateLockedError(
                    f"the state {self.config.location} is locked by {held.get('operation', 'a run')} of "
                    f"{held.get('who', '?')} on host {held.get('host', '?')} since {held.get('since', '?')}, lock id "
                    f"{held.get('id', '?')}; if that run died: reconcile force-unlock {held.get('id', 'ID')}") from None
            raise backend_error(self.config, exc, f"locking (table {self.config.lock_table})") from None
        self.id = lock_id

    def release(self) -> None:
        if self.id is None:
            return
        try:
            self.db.delete_item(TableName=self.config.lock_table, Key={"LockID": {"S": self.key}},
                                ConditionExpression="contains(Info, :id)", ExpressionAttributeValues={
                                    ":id": {"S": self.id}})
        except failures() as exc:  # reported; force-unlock can clean up
            log.warning("could not release the lock %s: %s", self.id, exc)
        self.id = None

    def _remove(self) -> None:
        self.db.delete_item(TableName=self.config.lock_table, Key={"LockID": {"S": self.key}})
