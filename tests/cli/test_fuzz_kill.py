"""Fuzz: SIGKILL while a cache entry is being written — derived pairs, a fitted judge, a reward head.
The entry is then absent (never half-written: atomic rename), and the next run builds it and completes.

The kill is placed, not raced: the run goes through a ``python -c`` that makes ``os.replace`` of the
entry's file SIGKILL the process — the last instant before the entry would exist (issue 35)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMOKE, empty_cache, scaled_timeout

DIE_AT = """
import os, signal, sys
real = os.replace
def replace(src, dst, *a, **k):
    if {where!r} in str(dst):
        os.kill(os.getpid(), signal.SIGKILL)  # the entry's bytes are written; the rename never happens
    return real(src, dst, *a, **k)
os.replace = replace
from alignrun.cli import main
main(sys.argv[1:])
"""

TINY = ["model=tiny", *SMOKE, "values=[helpful]", "hydra.run.dir=D"]
CASES = {  # phase -> (where its cache entry lives, the command line that builds it)
    "derivation": ("/derived/pairs-helpful-", ["+method=none", "derive.pairs=always", *TINY]),
    "judge fitting": ("/scorers/preference-", ["+method=none", *TINY]),
    "reward head training": (  # its features from the tiny model, not its own SmolLM2 copy (~3 min)
        "/judges/reward-head-",
        ["+method=none", "judge=reward_head", "judge.evaluator.model=tiny", *TINY],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("phase", sorted(CASES))
def test_sigkill_while_a_cache_entry_is_written_leaves_none_and_the_next_run_builds_it(
    phase: str, tmp_path: Path
) -> None:
    where, args = CASES[phase]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ALIGNRUN_CACHE": empty_cache(tmp_path / "cache")}
    killed = subprocess.run(
        [sys.executable, "-c", DIE_AT.format(where=where), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled_timeout(300), check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    cache = tmp_path / "cache"
    assert not [p for p in cache.rglob("*") if where in str(p) and not p.name.startswith(".")]  # absent
    assert not (tmp_path / "D" / "results.json").exists()
    again = subprocess.run(
        [sys.executable, "-m", "alignrun", *args[:-1], "hydra.run.dir=D2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled_timeout(300), check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p for p in cache.rglob("*") if where in str(p) and not p.name.startswith(".")]  # built now
    assert (tmp_path / "D2" / "results.json").is_file()
