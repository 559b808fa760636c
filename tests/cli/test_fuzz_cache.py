"""Fuzz: a user cache that cannot be written (read-only, or a file where the folder should be). The run
computes what it would have cached, warns once per entry, and completes (issue 35)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_bad_input import TINY


def _unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "a file":
        (tmp_path / "cache").write_text("not a folder\n")
        return tmp_path / "cache"
    probe = tmp_path / "ro"
    probe.mkdir()
    probe.chmod(0o555)
    try:  # root writes through mode bits: then only a path the kernel refuses shows the case
        (probe / "x").touch()
        return Path("/proc/alignrun-test-cache")
    except PermissionError:
        return probe


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["read-only", "a file"])
def test_a_cache_that_cannot_be_written_warns_and_the_run_completes(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alignrun.cli import main

    monkeypatch.setenv("ALIGNRUN_CACHE", str(_unwritable(tmp_path, kind)))
    monkeypatch.chdir(tmp_path)
    try:  # model=tiny trains its weights in memory (~10 s): nothing is cached
        main(["+method=none", *TINY, "values=[helpful]", "hydra.run.dir=D"])
    except SystemExit as done:
        assert done.code in (0, None)
    results = json.loads((tmp_path / "D" / "results.json").read_text())
    assert any("cannot write the tiny model cache entry" in w for w in results["warnings"]), results[
        "warnings"
    ]
