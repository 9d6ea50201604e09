"""OpenPGP key fingerprints (v4), read from a key file in binary or ASCII-armored form: enough to check
that a repository's signing key is the one the spec names, with no gpg needed anywhere."""

from __future__ import annotations

import base64
import hashlib

from reconciler.errors import ModuleError

PUBLIC_KEY, PUBLIC_SUBKEY = 6, 14


def dearmor(data: bytes) -> bytes:
    """The binary packets of a key file (ASCII armor removed when present)."""
    if b"-----BEGIN PGP" not in data:
        return data
    lines = data.decode("ascii", errors="replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP"))
    except StopIteration:
        raise ModuleError("the key file's ASCII armor is incomplete") from None
    body = lines[start + 1:end]
    while body and ":" in body[0]:  # armor headers (Version: …), then a blank line
        body.pop(0)
    text = "".join(line for line in body if line and not line.startswith("="))
    try:
        return base64.b64decode(text, validate=False)
    except ValueError as exc:
        raise ModuleError(f"the key file's armor is not base64: {exc}") from None


def packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet (old and new formats, RFC 4880 4.2)."""
    out, i = [], 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise ModuleError("not an OpenPGP key file")
        if head & 0x40:  # new format
            tag, i = head & 0x3F, i + 1
            first = data[i]
            if first < 192:
                length, i = first, i + 1
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 1] + 192, i + 2
            elif first == 255:
                length, i = int.from_bytes(data[i + 1:i + 5], "big"), i + 5
            else:
                raise ModuleError("partial-length OpenPGP packets are not supported in key files")
        else:
            tag, kind, i = (head >> 2) & 0x0F, head & 0x03, i + 1
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise ModuleError("indeterminate-length OpenPGP packets are not supported in key files")
            length, i = int.from_bytes(data[i:i + size], "big"), i + size
        out.append((tag, data[i:i + length]))
        i += length
    return out


def fingerprints(data: bytes) -> list[str]:
    """The v4 fingerprints (40 upper-case hex digits) of every key and subkey in the file."""
    found = []
    for tag, body in packets(dearmor(data)):
        if tag in (PUBLIC_KEY, PUBLIC_SUBKEY) and body[:1] == b"\x04":
            found.append(_fingerprint(body))
    if not found:
        raise ModuleError("the key file holds no OpenPGP v4 public key")
    return found


def _fingerprint(body: bytes) -> str:
    return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()  # noqa: S324 - v4 is SHA-1


def _encode(tag: int, body: bytes) -> bytes:
    """One packet in the new format (RFC 4880 4.2.2)."""
    n = len(body)
    if n < 192:
        length = bytes([n])
    elif n < 8384:
        length = bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    else:
        length = b"\xff" + n.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + length + body


def transferable_keys(data: bytes) -> list[list[tuple[int, bytes]]]:
    """The file's keys, each with its user ids, signatures and subkeys (the packets up to the next key)."""
    keys: list[list[tuple[int, bytes]]] = []
    for tag, body in packets(dearmor(data)):
        if tag == PUBLIC_KEY:
            keys.append([])
        if keys:
            keys[-1].append((tag, body))
    return keys


def primary_fingerprints(data: bytes) -> list[str]:
    """The fingerprint of each key in the file (its subkeys left out)."""
    return [_fingerprint(key[0][1]) for key in transferable_keys(data) if key[0][1][:1] == b"\x04"]


def only_key(data: bytes, fingerprint: str) -> bytes:
    """A binary keyring holding only the key `fingerprint` names (as its own or one of its subkeys'): what apt
    is given, so that a downloaded keyring with other keys never makes them trusted too."""
    for key in transferable_keys(data):
        prints = {_fingerprint(body) for tag, body in key if tag in (PUBLIC_KEY, PUBLIC_SUBKEY) and body[:1] == b"\x04"}
        if fingerprint in prints:
            return b"".join(_encode(tag, body) for tag, body in key)
    raise ModuleError(f"the key file holds no key with fingerprint {fingerprint}")


def normal_fingerprint(text: str) -> str:
    return "".join(text.split()).upper().removeprefix("0X")
