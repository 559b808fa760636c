"""Fuzz: sweeps as a user can get them wrong — an optimising study whose directions do not match the
values, two sweeps into one sweep dir — refused in one line before any job runs (issue 35)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alignrun.run_dir import release
from tests.cli.test_bad_input import TINY, assert_one_line, run_main

SWEEP = ["-m", "+method=none", *TINY, "seed=0,1", "hydra.sweep.dir=S"]


@pytest.mark.parametrize(
    ("values", "direction"),
    [("[helpful,harmless]", "[maximize]"), ("[helpful]", "[maximize,minimize]"),
     ("[helpful,harmless,honest]", "[maximize,maximize]")],
)  # fmt: skip
def test_an_optuna_study_with_directions_other_than_the_values_is_one_line(
    values: str,
    direction: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["-m", "+method=none", *TINY, "experiment=optuna_beta", f"values={values}",
            f"hydra.sweeper.direction={direction}", "hydra.sweep.dir=S"]  # fmt: skip
    line = assert_one_line(*run_main(args, capsys))
    assert "give one direction per value" in line
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_into_a_finished_sweeps_dir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "S").mkdir()
    (tmp_path / "S" / "summary.json").write_text("{}\n")
    line = assert_one_line(*run_main(SWEEP, capsys))
    assert "holds a finished sweep" in line
    assert [p.name for p in (tmp_path / "S").iterdir()] == ["summary.json"]


def test_a_sweep_into_a_live_sweeps_dir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = (
        "import time\nfrom pathlib import Path\nfrom alignrun.run_dir import claim\n"
        f"claim(Path({str(tmp_path / 'S')!r}))\nprint('held', flush=True)\ntime.sleep(120)\n"
    )  # the first sweep's launching process, holding its dir while its jobs run
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "held"
        line = assert_one_line(*run_main(SWEEP, capsys))
        assert "is in use by another alignrun sweep" in line
        assert sorted(p.name for p in (tmp_path / "S").iterdir()) == [".alignrun.lock"]
    finally:
        first.kill()
        first.wait()
        release(tmp_path / "S")
