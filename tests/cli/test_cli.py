"""The ``alignrun`` command as a user runs it: subprocesses in a scratch dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alignrun.profile.schwartz import SCHWARTZ_VALUES
from tests.conftest import SMOKE, assert_one_line_error, run_cli

HEAVY = ("torch", "transformers", "peft")


def test_help_lists_groups_without_heavy_imports(tmp_path: Path) -> None:
    # calls the console script's entry function in a fresh interpreter and inspects sys.modules
    code = (
        "import sys\n"
        "from alignrun.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    code = e.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('EXIT', code, 'HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "EXIT 0 HEAVY []" in out
    for group in ("method:", "model:", "values:", "data:", "steering:", "loggers:", "experiment:"):
        assert group in out
    assert "method: " in out and "none" in out.split("method: ")[1].splitlines()[0]


def test_no_method_is_one_friendly_line(tmp_path: Path) -> None:
    res = run_cli(cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "+method=" in lines[0] and "none" in lines[0]
    assert not list(tmp_path.iterdir())  # no half-made output dir


# the CLI's own checks and Hydra's (a config that composes but cannot run: test_loop.py, in-process)
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["+method=nope"], "unknown method 'nope'"),
        (["-m", "+method=none,nope"], "unknown method 'nope'"),
        (["+method=none", "values=[nope]"], "unknown value 'nope'"),
        (["+method=none", "steering=sae_featur"], "unknown steering 'sae_featur'; options: none, sae"),
        (["-m", "+method=none", "model=tiny,tinny"], "unknown model 'tinny'; options:"),
        (["+method=none", "profile=behavioral"], "unknown profile 'behavioral'; options: behavioural,"),
        (["+method=none", "seed=abc"], "seed"),
        (["method=none"], "+method=none"),
        (["+method=none", "nosuchkey=1"], "nosuchkey"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path: Path, args: list[str], needle: str) -> None:
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("alignrun: error:") and needle in lines[0]
    assert not list(tmp_path.iterdir())


def test_unknown_method_says_when_third_party_plugins_are_off(tmp_path: Path) -> None:
    res = run_cli("+method=best_of_n", cwd=tmp_path, env={"ALIGNRUN_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "unknown method 'best_of_n'" in res.stderr and "only ALIGNRUN_PLUGINS=a,b loads" in res.stderr
    res = run_cli("+method=best_of_n", "--help", cwd=tmp_path, env={"ALIGNRUN_PLUGINS": "best_of_n"})
    assert res.returncode == 0 and "+method=<name> --help" in res.stdout and "alignrun_example" in res.stdout


@pytest.mark.slow
def test_unreachable_model_is_one_line(tmp_path: Path) -> None:
    """An AlignrunError raised inside the run (the model loads after the preflight, in Hydra's task)
    is one line and exit 2 too: the subprocess case behind conftest's assert_one_line_run_error."""
    res = run_cli(
        "+method=none", *SMOKE, "model=hf", "model.name=org/not-here", "hydra.run.dir=D", cwd=tmp_path
    )
    assert res.returncode == 2
    assert_one_line_error(res, "model 'org/not-here' is not a local folder", tmp_path / "D")


@pytest.mark.slow
def test_run_writes_results_and_report(tmp_path: Path) -> None:
    res = run_cli("+method=none", *SMOKE, "hydra.run.dir=D", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    results = json.loads((tmp_path / "D" / "results.json").read_text())
    assert results["method"] == "none"
    assert set(results["scores"]) == {"helpful", "harmless", "honest"}
    assert (tmp_path / "D" / "report.md").is_file()
    assert (tmp_path / "D" / ".hydra" / "config.yaml").is_file()


@pytest.mark.slow
def test_multirun_writes_sweep_summary(tmp_path: Path) -> None:
    res = run_cli("-m", "+method=none,none", *SMOKE, "hydra.sweep.dir=S", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "S" / "summary.json").read_text())
    assert summary["num_jobs"] == 2 and len(summary["jobs"]) == 2
    assert all("+method=none" in job["overrides"] for job in summary["jobs"])
    assert (tmp_path / "S" / "report.md").read_text().count("| +method") == 0  # overrides in code spans
    assert "`+method=none" in (tmp_path / "S" / "report.md").read_text()
    assert (tmp_path / "S" / "comparison.png").stat().st_size > 1000


@pytest.mark.slow
def test_steering_from_the_command_line(tmp_path: Path) -> None:
    res = run_cli(
        "+method=none",
        *SMOKE,
        "steering=system_prompt",
        "steering.text=Be brief.",
        "hydra.run.dir=D",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "D" / "results.json").read_text())["method"] == "none"


@pytest.mark.packaged_model
@pytest.mark.slow
def test_default_job_on_the_packaged_model(tmp_path: Path) -> None:
    """Acceptance: `HF_HUB_OFFLINE=1 alignrun +method=none` with every default (~2 min on 2 cores)."""
    res = run_cli("+method=none", "hydra.run.dir=D", "generation.progress=false", cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads((tmp_path / "D" / "results.json").read_text())
    assert results["model"] == "SmolLM2-135M-Instruct"
    assert set(results["scores"]) == {"helpful", "harmless", "honest"}
    assert all(-1 < s < 1 for s in results["scores"].values())
    profile = results["value_profile"]
    assert tuple(profile) == SCHWARTZ_VALUES
    assert len((tmp_path / "D" / "profile.jsonl").read_text().splitlines()) >= 30
