"""Which workspace a spec directory has selected: `.reconcile/environment`, as Terraform keeps it, unless
--workspace or RECONCILE_WORKSPACE says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_FILE = "environment"  # .reconcile/environment holds the selected workspace, as Terraform's


def workspace_file(spec_path: str | Path) -> Path:
    spec = Path(spec_path).absolute()
    return (spec if spec.is_dir() else spec.parent) / ".reconcile" / WORKSPACE_FILE


def selected_workspace(spec_path: str | Path) -> str:
    """--workspace, else RECONCILE_WORKSPACE, else what `reconcile workspace select` chose, else default."""
    if os.environ.get("RECONCILE_WORKSPACE"):
        return os.environ["RECONCILE_WORKSPACE"]
    chosen = workspace_file(spec_path)
    try:
        name = chosen.read_text().strip()
    except OSError:
        return "default"
    return name or "default"
