"""POST a JSON body to a webhook (Slack-compatible), with retries. Never raises: returns the error."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from reconciler.words import plural

ATTEMPTS = 3


def post_json(url: str, body: dict[str, Any], attempts: int = ATTEMPTS, timeout: float = 10) -> str | None:
    data = json.dumps(body, default=str).encode()
    error = "not sent"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "reconcile"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return None
                error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the request itself is wrong: retrying won't help
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            time.sleep(0.5 * 2 ** (attempt - 1))
    return f"notification to {url} failed after {plural(attempt, 'attempt')}: {error}"
