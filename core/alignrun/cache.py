"""The user cache dir: ``$ALIGNRUN_CACHE``, else ``$XDG_CACHE_HOME/alignrun`` or ``~/.cache/alignrun``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root (not created here)."""
    if os.environ.get("ALIGNRUN_CACHE"):
        return Path(os.environ["ALIGNRUN_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "alignrun"
