"""The user cache dir: ``$ALIGNRUN_CACHE``, else ``$XDG_CACHE_HOME/alignrun`` or ``~/.cache/alignrun``."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("alignrun")


def cache_dir() -> Path:
    """The cache root (not created here)."""
    if os.environ.get("ALIGNRUN_CACHE"):
        return Path(os.environ["ALIGNRUN_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "alignrun"


def read_entry(entry: Path, read: Callable[[], T], what: str) -> T | None:
    """``read()`` of the cache entry ``entry`` (a file or a folder), or None when it cannot be
    read: the entry is then removed, with a warning, and the caller builds it again. A truncated
    or garbled entry (a disk filled mid-write by another tool, a bad copy) must cost one rebuild,
    not a traceback on every later run."""
    try:
        return read()
    except Exception as exc:
        log.warning(
            "%s cache entry %s is corrupt (%s: %s); rebuilding it", what, entry, type(exc).__name__, exc
        )
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        return None


def keep(entry: Path, write: Callable[[], object], what: str) -> bool:
    """Run ``write()``, which stores the cache entry ``entry``; True if it did. A cache that cannot
    be written (read-only, full, not a folder) costs a recomputation on the next run, not this run:
    a warning says so, once per entry, and the run goes on with what it computed."""
    try:
        write()
        return True
    except OSError as exc:
        log.warning(
            "cannot write the %s cache entry %s (%s); going on without caching it "
            "(ALIGNRUN_CACHE=<a writable folder> moves the cache)",
            what,
            entry,
            exc.strerror or type(exc).__name__,
        )
        return False
