"""One reading of a failed AWS call, shared by the state stores, the key sources and the AWS modules.

botocore is imported only when a failure is being sorted, so importing this costs nothing."""

from __future__ import annotations

from typing import Any


def failures(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What a botocore call raises when AWS refused it or could not be reached: the service's answer
    (ClientError), botocore's own (no credentials, a bad region, a timeout) and the network's; with `also`
    (a damaged body's ValueError, say) when the same handling fits those."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError, OSError, *also)


def _response(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a service's answer ("NoSuchKey", "PreconditionFailed"…), else ""."""
    return str((_response(exc).get("Error") or {}).get("Code") or "")


def error_message(exc: BaseException) -> str:
    """The service's message, else the exception's own text."""
    return str((_response(exc).get("Error") or {}).get("Message") or exc)


def http_status(exc: BaseException) -> int:
    """The HTTP status of the service's answer, else 0 (no answer came)."""
    status = (_response(exc).get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    try:
        return int(status)
    except (TypeError, ValueError):
        return 0


def code_or_name(exc: BaseException) -> str:
    """The error code, or the exception's class name when the service did not answer with one."""
    return error_code(exc) or type(exc).__name__
