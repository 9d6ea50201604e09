"""A key source for encryption at rest, as `state.encryption` names it: a passphrase in an environment variable
(the key derived from it with scrypt) or a KMS key (a data key per write). What it encrypts, and how, is
reconciler.state.sealing; the spec checks a block with `sealing_from` without touching any key."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import StateError

PASSPHRASE, KMS = "passphrase", "aws_kms"
SETTINGS = {"passphrase_env", "key_provider", "key_id", "region", "endpoint_url"}


class SealError(StateError):
    """A sealed body cannot be opened (no key, the wrong key, altered), or sealing is set up wrong."""


@dataclass(frozen=True)
class Sealing:
    """A key source: a passphrase in an environment variable, or a KMS key."""

    method: str
    passphrase_env: str | None = None
    key_id: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    _keys: dict[tuple[str, bytes], bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> str:
        """The key source as a person would name it."""
        return f"the passphrase in ${self.passphrase_env}" if self.method == PASSPHRASE else f"KMS key {self.key_id}"

    def passphrase(self) -> bytes:
        value = os.environ.get(str(self.passphrase_env))
        if not value:
            raise SealError(f"the state's encryption passphrase ${self.passphrase_env} is not set: export it (nothing "
                            "was read or written)")
        return value.encode()

    def derived(self, salt: bytes, params: Mapping[str, int]) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        secret = self.passphrase()
        cache_key = (hashlib.sha256(secret + json.dumps(dict(params), sort_keys=True).encode()).hexdigest(), salt)
        if cache_key not in self._keys:
            kdf = Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"]))
            self._keys[cache_key] = kdf.derive(secret)
        return self._keys[cache_key]

    def kms(self) -> Any:
        import boto3
        from botocore.config import Config

        region = self.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return boto3.session.Session(region_name=region).client(
            "kms", endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30))


def sealing_from(block: Any, *, region: str | None = None, endpoint_url: str | None = None) -> Sealing | None:
    """The `state.encryption` block as a key source (None when absent or `off`); a wrong block is an error."""
    if block in (None, "", "off", False):
        return None
    if not isinstance(block, Mapping):
        raise SealError("`state.encryption` must be {passphrase_env: VAR} or {key_provider: aws_kms, key_id: KEY}")
    unknown = sorted(set(block) - SETTINGS)
    if unknown:
        raise SealError(f"`state.encryption` has no setting {unknown[0]!r} (it takes {', '.join(sorted(SETTINGS))})")
    env, provider, key_id = block.get("passphrase_env"), block.get("key_provider"), block.get("key_id")
    if env and provider:
        raise SealError("`state.encryption` takes passphrase_env or key_provider, not both")
    if env:
        if not isinstance(env, str) or not env.replace("_", "").isalnum():
            raise SealError(f"`state.encryption.passphrase_env` must name an environment variable, not {env!r}")
        return Sealing(PASSPHRASE, passphrase_env=env)
    if provider == KMS:
        if not key_id:
            raise SealError("`state.encryption` with key_provider aws_kms needs key_id (an id, ARN or alias/NAME)")
        return Sealing(KMS, key_id=str(key_id), region=str(block.get("region") or region or "") or None,
                       endpoint_url=str(block.get("endpoint_url") or endpoint_url or "") or None)
    if provider:
        raise SealError(f"`state.encryption.key_provider` {provider!r} is not known (use aws_kms)")
    raise SealError("`state.encryption` names no key: give passphrase_env: VAR, or key_provider: aws_kms with key_id")
