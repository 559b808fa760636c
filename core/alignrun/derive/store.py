"""The cache of derived materials: one JSON file per (kind, model, value, seed, settings).

An entry is written once, atomically (:func:`alignrun.atomic.atomic_write_text`), with its key's
inputs inside it: a killed derivation leaves no entry (never half of one), and a reader checks the
stored inputs match before trusting it. Lives in ``<cache>/derived/`` (``ALIGNRUN_CACHE``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.cache import cache_dir, keep

VERSION = 1  # bump when a derivation's algorithm changes: old entries are then never read
log = logging.getLogger("alignrun")


def entry_path(kind: str, value: str, inputs: dict[str, Any]) -> Path:
    """Where the entry for these inputs lives."""
    blob = json.dumps({"version": VERSION, "kind": kind, **inputs}, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]
    return cache_dir() / "derived" / f"{kind}-{value}-{digest}.json"


def cached(
    kind: str, value: str, inputs: dict[str, Any], build: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], Path, bool]:
    """The cached entry for ``inputs``, or ``build()``'s, stored first.

    Returns:
        ``(entry, path, hit)``: ``hit`` is true when nothing was built.
    """
    path = entry_path(kind, value, inputs)
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if isinstance(stored, dict) and stored.get("inputs") == json.loads(json.dumps(inputs)):
            return stored["entry"], path, True
        log.warning("derived cache entry %s does not match its inputs; rebuilding it", path)
    entry = build()
    doc = {"version": VERSION, "kind": kind, "value": value, "inputs": inputs, "entry": entry}
    keep(
        path,
        lambda: atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n"),
        f"derived {kind}",
    )
    return entry, path, False
