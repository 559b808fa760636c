"""Compare two results.json files key by key, ignoring what measures speed, not behaviour.

    python bench/compare_results.py BEFORE.json AFTER.json

Prints each differing key path and exits 1 if any differ (timings, warnings, tokens/s and cache hits
are skipped: they change from run to run without the model's behaviour changing).
"""

from __future__ import annotations

import json
import sys
from typing import Any

SKIPPED_TOP = {"timings", "warnings"}
SKIPPED_KEYS = ("cache_hit", "seconds", "tokens_per_s", "wall_s")


def differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    if path and (path[0] in SKIPPED_TOP or any(k in path[-1] for k in SKIPPED_KEYS)):
        return []
    where = "/".join(path)
    if isinstance(a, dict) and isinstance(b, dict):
        out = [(f"{where}/{k}", "only in one file") for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], (*path, str(k)))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [(where, f"{len(a)} vs {len(b)} items")]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, (*path, str(i)))]
    return [] if a == b else [(where, f"{a!r:.60} vs {b!r:.60}")]


def main() -> int:
    from pathlib import Path

    before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in sys.argv[1:3])
    found = differences(before, after)
    for where, what in found:
        print(where, what)
    print(f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
