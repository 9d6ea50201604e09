"""Downloads for `get_url` and `archive`: fetched by the controller (so hosts need no route to the
source, and the checksum is checked before anything is sent), bounded in size and time."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

from reconciler.errors import ModuleError

MAX_DOWNLOAD = 512 * 1024 * 1024
TIMEOUT = 60.0
ALGORITHMS = ("sha256", "sha512", "sha1", "md5")


def fetch(url: str, timeout: float = TIMEOUT) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "reconcile"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the spec's own URL
            data: bytes = response.read(MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as exc:
        raise ModuleError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}", retryable=exc.code >= 500) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ModuleError(f"downloading {url} failed: {getattr(exc, 'reason', exc)}", retryable=True) from None
    if len(data) > MAX_DOWNLOAD:
        raise ModuleError(f"{url} is larger than {MAX_DOWNLOAD >> 20} MiB")
    return data


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify(data: bytes, checksum: str | None, source: str) -> None:
    """A downloaded file whose checksum differs is refused: nothing is written."""
    if not checksum:
        return
    algorithm, _, want = checksum.partition(":")
    got = hashlib.new(algorithm, data).hexdigest()
    if got != want.lower():
        raise ModuleError(f"{source} has {algorithm} {got}, not the {want} the spec expects: nothing was written")
