"""Fuzz: your own pairs and prompts files (``+data.sources.<value>.path=``, ``+data.eval_sources``)
as a hostile or careless user gives them. Each ends in one ``alignrun: error:`` line naming the file
and a non-zero exit, with nothing half-written (no results.json, no report), or in a complete run."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.test_bad_input import TINY, assert_one_line, run_main

RUN = ["+method=none", *TINY, "values=[helpful]", "hydra.run.dir=D"]
ROW = {"prompt": "How do I boil an egg?", "chosen": "Simmer it for nine minutes.", "rejected": "No."}


def _jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


# (case id, file name, how its bytes are made, what the one line says)
BAD_PAIRS: list[tuple[str, str, Callable[[], bytes], str]] = [
    ("empty jsonl", "p.jsonl", lambda: b"", "p.jsonl"),
    ("wrong columns", "p.jsonl", lambda: _jsonl([{"question": "q", "good": "a", "bad": "b"}] * 3), "prompt"),
    ("one column missing", "p.jsonl", lambda: _jsonl([{"prompt": "q", "chosen": "a"}] * 3), "rejected"),
    ("binary bytes as jsonl", "p.jsonl", lambda: os.urandom(4096), "p.jsonl"),
    ("binary bytes as parquet", "p.parquet", lambda: os.urandom(4096), "p.parquet"),
    ("binary bytes as gzip", "p.jsonl.gz", lambda: os.urandom(4096), "p.jsonl.gz"),
    ("truncated last line", "p.jsonl", lambda: _jsonl([ROW] * 3) + b'{"prompt": "cut', "p.jsonl"),
    ("latin-1 text", "p.jsonl", lambda: _jsonl([ROW]).replace(b"egg", b"\xe9\xe8"), "p.jsonl"),
    ("a json object, not rows", "p.json", lambda: json.dumps({"prompt": 1}).encode(), "p.json"),
    ("csv without rejected", "p.csv", lambda: b"prompt,chosen\nq,a\nr,b\n", "rejected"),
    ("every pair chosen = rejected", "p.jsonl", lambda: _jsonl([{**ROW, "rejected": ROW["chosen"]}] * 4),
     "no usable"),
    ("every field empty", "p.jsonl", lambda: _jsonl([{"prompt": "", "chosen": "", "rejected": ""}] * 4),
     "no usable"),
    ("unsupported suffix", "p.txt", lambda: b"prompt chosen rejected\n", "cannot read"),
    ("gzip of nothing", "p.jsonl.gz", lambda: gzip.compress(b""), "p.jsonl.gz"),
]  # fmt: skip


def _run(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main(args, capsys))
    written = {p.name for p in (tmp_path / "D").iterdir()} if (tmp_path / "D").exists() else set()
    assert not written & {"results.json", "report.md", "adapters"}, written  # nothing half-written
    return line


@pytest.mark.parametrize(("name", "make", "says"), [c[1:] for c in BAD_PAIRS], ids=[c[0] for c in BAD_PAIRS])
def test_bad_pairs_file_is_one_line(
    name: str,
    make: Callable[[], bytes],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / name).write_bytes(make())
    line = _run([*RUN, f"+data.sources.helpful.path={tmp_path / name}"], tmp_path, monkeypatch, capsys)
    assert says in line and "Traceback" not in line, line


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("missing.jsonl", "no such file or folder"),
        ("empty_folder", "no data files"),
        ("folder_of_text", "no data files"),
    ],
)
def test_bad_pairs_path_is_one_line(
    where: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "folder_of_text").mkdir()
    (tmp_path / "folder_of_text" / "notes.txt").write_text("not data\n")
    line = _run([*RUN, f"+data.sources.helpful.path={tmp_path / where}"], tmp_path, monkeypatch, capsys)
    assert says in line, line


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: b"", "p.jsonl"),
        (lambda: _jsonl([{"question": "q"}] * 3), "prompt"),
        (lambda: os.urandom(2048), "p.jsonl"),
        (lambda: _jsonl([{"prompt": ""}] * 3), "prompt"),
    ],
    ids=["empty", "wrong column", "binary", "empty prompts"],
)
def test_bad_eval_prompts_file_is_one_line(
    make: Callable[[], bytes],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "p.jsonl").write_bytes(make())
    line = _run(
        [*RUN, f"+data.eval_sources.helpful.path={tmp_path / 'p.jsonl'}"], tmp_path, monkeypatch, capsys
    )
    assert says in line, line


def _huge() -> bytes:  # ~20 MB: read whole, capped to 16 pairs by max_rows
    return _jsonl(
        [
            {"prompt": f"Question {i}?", "chosen": "A full answer " * 20, "rejected": "No."}
            for i in range(60_000)
        ]
    )


@pytest.mark.parametrize(
    ("make", "extra"),
    [
        (_huge, ["+data.sources.helpful.max_rows=16"]),
        (lambda: b'{"prompt": 1, "chosen": 2, "rejected": 3}\n' * 3, []),  # a CSV's "42" is an answer too
    ],
    ids=["huge, capped", "numbers read as text"],
)
def test_files_that_load_run_to_the_end(
    make: Callable[[], bytes], extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignrun.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.jsonl").write_bytes(make())
    try:
        main([*RUN, f"+data.sources.helpful.path={tmp_path / 'p.jsonl'}", *extra])
    except SystemExit as done:
        assert done.code in (0, None)
    assert (tmp_path / "D" / "results.json").is_file()
