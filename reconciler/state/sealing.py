"""State, history, the apply journal and saved plans encrypted at rest (`state.encryption`).

AES-256-GCM (`cryptography`). The key comes from one of two sources:
- `passphrase_env: VAR`: derived from the passphrase in VAR with scrypt and a salt of the state's own (kept in
  the envelope, new for every state and on every rekey; the derived key is kept in memory for the process);
- `key_provider: aws_kms, key_id: …`: envelope encryption, a fresh data key for every write, encrypted with
  the KMS key and kept beside the ciphertext; KMS decrypts it on read.

A sealed body is one JSON envelope, `{"reconcile_sealed": 1, …}`: the header says how it was sealed (which
variable, which KMS key, what it holds) and is bound to the ciphertext as associated data, so a header that
was altered, or a plan file swapped for a state, fails to open. Reading needs only the envelope and the
key source it names; writing uses the spec's `state.encryption`. Locks are never sealed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from reconciler.aws_errors import code_or_name, failures
from reconciler.key_source import KMS, PASSPHRASE, SealError, Sealing

log = logging.getLogger(__name__)
MAGIC = b'{"reconcile_sealed":'
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
LIMITS = {"n": 2**17, "r": 16, "p": 4}  # a header asking for more memory or time than this is refused, never run


def is_sealed(body: bytes) -> bool:
    return body.lstrip()[:len(MAGIC)] == MAGIC


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal(body: bytes, sealing: Sealing, purpose: str, *, salt: bytes | None = None) -> bytes:
    """`body` encrypted under `sealing`'s key; `purpose` (state, run, journal, plan…) is bound to it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header: dict[str, Any] = {"reconcile_sealed": 1, "purpose": purpose, "method": sealing.method,
                              "cipher": "AES-256-GCM"}
    if sealing.method == PASSPHRASE:
        salt = salt or os.urandom(16)
        header |= {"passphrase_env": sealing.passphrase_env, "kdf": {"name": "scrypt", "salt": _b64(salt), **SCRYPT}}
        key = sealing.derived(salt, SCRYPT)
    else:
        try:
            answer = sealing.kms().generate_data_key(KeyId=sealing.key_id, KeySpec="AES_256",
                                                     EncryptionContext={"reconcile": purpose})
        except failures() as exc:  # one line: which key, and why
            log.debug("GenerateDataKey on %s failed", sealing.key_id, exc_info=True)
            raise SealError(f"KMS key {sealing.key_id} gave no data key ({code_or_name(exc)}); nothing was written") from None
        key = answer["Plaintext"]
        header |= {"key_id": sealing.key_id, "region": sealing.region, "data_key": _b64(answer["CiphertextBlob"])}
        if sealing.endpoint_url:
            header["endpoint_url"] = sealing.endpoint_url
    nonce = os.urandom(12)
    aad = json.dumps(header, sort_keys=True).encode()
    sealed = AESGCM(key).encrypt(nonce, body, aad)
    return json.dumps({**header, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}).encode()


def envelope(body: bytes, where: str) -> dict[str, Any]:
    """The parsed envelope of a sealed body; a damaged one is an error naming `where`."""
    try:
        parsed = json.loads(body)
        if not isinstance(parsed, dict) or parsed.get("reconcile_sealed") != 1:
            raise ValueError("not an envelope of version 1")
        return parsed
    except ValueError as exc:
        raise SealError(f"{where} is encrypted but damaged ({exc})") from None


def source_of(header: Mapping[str, Any], reading: Sealing | None = None) -> Sealing:
    """The key source a sealed body names. `reading` overrides the passphrase variable (as for a rekey) or,
    for KMS, where KMS is reached (the spec's region and endpoint now)."""
    if header.get("method") == PASSPHRASE:
        if reading and reading.method == PASSPHRASE:
            return reading
        return Sealing(PASSPHRASE, passphrase_env=str(header.get("passphrase_env")))
    here = reading if reading and reading.method == KMS else None
    return Sealing(KMS, key_id=str(header.get("key_id")),
                   region=(here.region if here else None) or header.get("region") or None,
                   endpoint_url=(here.endpoint_url if here else None) or header.get("endpoint_url") or None)


def salt_of(body: bytes) -> bytes | None:
    """The passphrase salt of a sealed body (a state keeps its salt from write to write)."""
    try:
        return base64.b64decode(json.loads(body)["kdf"]["salt"])
    except (ValueError, KeyError, TypeError):
        return None


def unseal(body: bytes, where: str, purpose: str, reading: Sealing | None = None) -> bytes:
    """The plaintext of a sealed body, or one clear error naming `where` and the key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parsed = envelope(body, where)
    header = {k: v for k, v in parsed.items() if k not in ("nonce", "ciphertext")}
    if header.get("purpose") != purpose:
        raise SealError(f"{where} holds an encrypted {header.get('purpose')}, not a {purpose}")
    source = source_of(header, reading)
    try:
        nonce, sealed = base64.b64decode(parsed["nonce"]), base64.b64decode(parsed["ciphertext"])
        if source.method == PASSPHRASE:
            kdf = parsed["kdf"]
            params = {k: int(kdf[k]) for k in ("n", "r", "p")}
            if kdf.get("name") != "scrypt" or not all(0 < params[k] <= most for k, most in LIMITS.items()):
                raise ValueError(f"key derivation {kdf.get('name')} {params} is not one reconcile writes")
            key = source.derived(base64.b64decode(kdf["salt"]), params)
        else:
            key = _kms_key(source, base64.b64decode(parsed["data_key"]), purpose, where)
    except (KeyError, TypeError, ValueError) as exc:
        raise SealError(f"{where} is encrypted but damaged ({exc})") from None
    try:
        return AESGCM(key).decrypt(nonce, sealed, json.dumps(header, sort_keys=True).encode())
    except InvalidTag:
        raise SealError(f"cannot decrypt {where}: {source.names} is not the key it was encrypted with (or the "
                        "file was altered); nothing was written") from None
    except ValueError as exc:  # a nonce or key of a length AES-GCM refuses: the envelope was altered
        raise SealError(f"{where} is encrypted but damaged ({exc})") from None


def _kms_key(source: Sealing, blob: bytes, purpose: str, where: str) -> bytes:
    try:
        return bytes(source.kms().decrypt(CiphertextBlob=blob, EncryptionContext={"reconcile": purpose})["Plaintext"])
    except failures() as exc:  # one line: which key, and why
        log.debug("KMS Decrypt for %s failed", where, exc_info=True)
        raise SealError(f"cannot decrypt {where}: KMS key {source.key_id} refused its data key ({code_or_name(exc)}); "
                        "nothing was written") from None

