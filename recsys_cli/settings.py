"""Environment variables that act as global options, defined in one place."""

from __future__ import annotations

import os
import re
from pathlib import Path

from recsys_cli.errors import InvalidParameterError

ENV_WORKSPACE = "RECSYS_WORKSPACE"
ENV_DEBUG = "RECSYS_DEBUG"
ENV_LOCK_TIMEOUT = "RECSYS_LOCK_TIMEOUT"
ENV_DOWNLOAD_CACHE = "RECSYS_DOWNLOAD_CACHE"
ENV_FEATURE_MEMORY = "RECSYS_FEATURE_MEMORY"

DEFAULT_WORKSPACE = Path("recsys-workspace")
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_FEATURE_MEMORY = "4GB"


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


def feature_memory_limit() -> str:
    """DuckDB's memory limit for the ranking features (it spills to disk beyond it), e.g. 8GB."""

    raw = (os.environ.get(ENV_FEATURE_MEMORY) or "").strip()
    if not raw:
        return DEFAULT_FEATURE_MEMORY
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B)", raw, flags=re.I)
    if not match or float(match.group(1)) <= 0:
        raise InvalidParameterError(
            f"{ENV_FEATURE_MEMORY}={raw} is not a memory size",
            f"use e.g. {ENV_FEATURE_MEMORY}=8GB, or unset it for {DEFAULT_FEATURE_MEMORY}",
        )
    return raw
