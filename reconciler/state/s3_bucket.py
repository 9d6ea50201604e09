"""The state's bucket: its settings (S3Config), a client for it, listing and deleting a state's objects, and
one-line errors for what the bucket answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.aws_errors import error_code, failures
from reconciler.errors import StateError
from reconciler.key_source import Sealing


@dataclass(frozen=True)
class S3Config:
    bucket: str
    key: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    encrypt: bool = True
    kms_key_id: str | None = None
    profile: str | None = None
    lock_table: str | None = None  # a DynamoDB table (hash key LockID) instead of the lock object
    sealing: Sealing | None = None  # state.encryption: the document, history and journal sealed client-side
    reading: Sealing | None = None  # opens what was sealed under another passphrase variable (a rekey's old key)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def s3_client(config: S3Config, service: str = "s3") -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=config.profile, region_name=config.region)
    return session.client(service, endpoint_url=config.endpoint_url,
                          config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5,
                                        read_timeout=30))


def list_keys(config: S3Config, prefix: str) -> list[str]:
    """Every key of the state bucket under `prefix`."""
    keys: list[str] = []
    try:
        for page in s3_client(config).get_paginator("list_objects_v2").paginate(Bucket=config.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents") or []]
    except failures() as exc:  # sorted by code
        raise backend_error(config, exc, "listing") from None
    return keys


def delete_state(config: S3Config) -> None:
    """Remove the state document (a workspace's), its run history and journal; the caller holds the lock."""
    s3 = s3_client(config)
    try:
        extra = list_keys(config, f"{config.key}.runs/") + list_keys(config, f"{config.key}.journal")
        for key in [config.key, *extra]:
            s3.delete_object(Bucket=config.bucket, Key=key)
    except StateError:
        raise
    except failures() as exc:  # sorted by code
        raise backend_error(config, exc, "deleting") from None


def backend_error(config: S3Config, exc: Exception, doing: str) -> StateError:
    """One line: the bucket, what failed, and what to do."""
    code = error_code(exc)
    where = config.location
    if code in ("NoSuchBucket",):
        return StateError(f"the state bucket {config.bucket} does not exist ({doing} {where}); create it (see the "
                          "README's team set-up) or fix `state.bucket`")
    if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return StateError(f"access to {where} was denied ({doing}): check the credentials and the bucket policy")
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        return StateError(f"the state bucket {config.bucket} is not in region {config.region} ({doing}); fix "
                          "`state.region`")
    name = type(exc).__name__
    if name == "InvalidRegionError":
        return StateError(f"`state.region` {config.region!r} is not an AWS region name (like eu-west-1)")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        return StateError(f"cannot reach the state store {config.endpoint_url or 's3.' + config.region} ({doing} "
                          f"{where}): {exc}")
    if name == "NoCredentialsError":
        return StateError(f"no AWS credentials to reach {where}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                          "AWS_SECRET_ACCESS_KEY, or `state.profile`")
    return StateError(f"{doing} {where} failed: {code or name}: {exc}")
