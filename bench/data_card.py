"""The data card of the bundled preference pairs (docs/data.md): counts, lengths, trivial baselines.

    python bench/data_card.py                 # the markdown table of docs/data.md
    python bench/data_card.py --check a.jsonl b.jsonl    # any pair files: the same figures, plus problems

Per file: pairs, distinct prompts, median characters of the chosen and the rejected answers, and how often
"prefer the longer answer" and "prefer the refusal keyword" agree with the labels (95% Wilson interval;
a tie counts half). ``--check`` also lists duplicate prompts, identical answers, and prompts a held-out file
shares with its training file, and exits 1 when a baseline lies outside [0.40, 0.60].
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from alignrun.data.bundled import FILES, read_jsonl
from alignrun.data.shortcuts import agreements


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def card_row(name: str, rows: Sequence[Mapping[str, str]]) -> str:
    """One markdown row: file, pairs, prompts, lengths (median, mean gap), both baselines with intervals."""
    cells = [
        name,
        str(len(rows)),
        str(len({_norm(r["prompt"]) for r in rows})),
        f"{statistics.median(len(r['chosen']) for r in rows):.0f} / "
        f"{statistics.median(len(r['rejected']) for r in rows):.0f}",
        f"{statistics.mean(len(r['chosen']) - len(r['rejected']) for r in rows):+.0f}",
    ]
    for a in agreements(rows):
        mark = "" if a.balanced else " ⚠"
        cells.append(f"{a.rate:.2f} [{a.low:.2f}, {a.high:.2f}]{mark}")
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| file | pairs | distinct prompts | median chars chosen / rejected | mean chars chosen − rejected "
    '| "prefer the longer answer" agrees | "prefer the refusal keyword" agrees |\n'
    "|---|---|---|---|---|---|---|"
)


def problems(
    name: str, rows: Sequence[Mapping[str, str]], train: Sequence[Mapping[str, str]] = ()
) -> list[str]:
    """What is wrong with a pair file beyond its baselines (duplicates, equal answers, leaked prompts)."""
    out = []
    seen: set[str] = set()
    for i, r in enumerate(rows):
        missing = [k for k in ("prompt", "chosen", "rejected") if not str(r.get(k, "")).strip()]
        if missing:
            out.append(f"{name}:{i + 1}: empty {', '.join(missing)}")
            continue
        p = _norm(r["prompt"])
        if p in seen:
            out.append(f"{name}:{i + 1}: duplicate prompt {r['prompt'][:60]!r}")
        seen.add(p)
        if _norm(r["chosen"]) == _norm(r["rejected"]):
            out.append(f"{name}:{i + 1}: chosen equals rejected")
    leaked = seen & {_norm(r["prompt"]) for r in train}
    out += [f"{name}: held-out prompt also in training: {p[:60]!r}" for p in sorted(leaked)]
    for a in agreements(rows):
        if not a.balanced:
            out.append(f"{name}: 'prefer the {a.name}' agrees {a.rate:.2f}, outside [0.40, 0.60]")
    return out


def bundled_files() -> list[str]:
    """Every bundled pair file, training before held-out, value by value."""
    names = sorted(p.name for p in FILES.iterdir() if p.name.endswith((".pairs.jsonl", ".eval.jsonl")))
    return sorted(names, key=lambda n: (n.split(".")[0], n.endswith(".eval.jsonl")))


def _read(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", nargs="+", metavar="FILE", help="pair files to check instead of the bundled"
    )
    args = parser.parse_args()
    if args.check:
        found = []
        print(HEADER)
        for path in args.check:
            rows = _read(Path(path))
            train_path = Path(path.replace(".eval.jsonl", ".pairs.jsonl"))
            train = _read(train_path) if path.endswith(".eval.jsonl") and train_path.is_file() else []
            print(card_row(Path(path).name, rows))
            found += problems(Path(path).name, rows, train)
        print("\n".join(found) or "no problems found")
        sys.exit(1 if found else 0)
    print(HEADER)
    for name in bundled_files():
        print(card_row(name, read_jsonl(name)))


if __name__ == "__main__":
    main()
