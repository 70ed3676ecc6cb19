"""Environment variables that act as global options, defined in one place."""

from __future__ import annotations

import os
from pathlib import Path

ENV_WORKSPACE = "RECSYS_WORKSPACE"
ENV_DEBUG = "RECSYS_DEBUG"
ENV_LOCK_TIMEOUT = "RECSYS_LOCK_TIMEOUT"
ENV_DOWNLOAD_CACHE = "RECSYS_DOWNLOAD_CACHE"

DEFAULT_WORKSPACE = Path("recsys-workspace")
DEFAULT_LOCK_TIMEOUT = 300.0


def debug_enabled() -> bool:
    return os.environ.get(ENV_DEBUG, "").strip().lower() not in ("", "0", "false", "no")


def lock_timeout_seconds() -> float:
    raw = os.environ.get(ENV_LOCK_TIMEOUT)
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


def default_workspace() -> Path:
    return Path(os.environ.get(ENV_WORKSPACE) or DEFAULT_WORKSPACE)


def download_cache(workspace_root: Path) -> Path:
    raw = os.environ.get(ENV_DOWNLOAD_CACHE)
    return Path(raw) if raw else workspace_root / "cache" / "downloads"
