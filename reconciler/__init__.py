"""reconcile: a declarative state reconciler for servers, containers and AWS.

The library API is `Session` (see reconciler/engine/session.py); the command is `reconcile`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.3.0"
__all__ = ["Selection", "Session", "__version__"]


def __getattr__(name: str) -> Any:  # imported on first use: `import reconciler` stays cheap for the CLI
    if name == "Session":
        from reconciler.engine.session import Session

        return Session
    if name == "Selection":
        from reconciler.model import Selection

        return Selection
    raise AttributeError(name)
