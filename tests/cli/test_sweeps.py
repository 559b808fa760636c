"""Sweeps beyond Hydra's in-process launcher (docs/sweeps.md): submitit's local processes and SLURM,
and a multi-objective Optuna study whose objectives are the run's value scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from alignrun.cli import objectives
from alignrun.config import compose
from alignrun.errors import AlignrunError
from alignrun.pareto import pareto_mask
from tests.conftest import SMOKE, run_cli, scaled_timeout

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install 'alignrun[sweeps]'")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install 'alignrun[sweeps]'")

# experiment=smoke spelt out: experiment=optuna_beta takes the experiment slot
SMOKE_SETTINGS = [
    "model=tiny",
    "profile=none",
    "data.max_eval_prompts=2",
    "generation.max_new_tokens=8",
    "generation.progress=false",
    "loggers=[]",
]
TINY_TRAIN = [  # tests/recipes/test_dpo.py's
    "method.train.steps=4",
    "method.train.batch_size=4",
    "method.train.micro_batch_size=2",
    "method.train.max_length=64",
    "method.train.progress=false",
]
LOCAL = ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10"]


def _summary(sweep: Path) -> dict[str, Any]:
    return dict(json.loads((sweep / "summary.json").read_text()))


@pytest.mark.slow
def test_a_submitit_local_sweep_completes_and_writes_the_summary(tmp_path: Path) -> None:
    """Acceptance: `-m hydra/launcher=submitit_local +method=none,dpo model=tiny`, a process per job."""
    res = run_cli(
        "-m",
        *LOCAL,
        "+method=none,dpo",
        "values=[helpful,harmless]",
        *SMOKE,
        "hydra.sweep.dir=S",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = tmp_path / "S"
    assert f"alignrun: sweep report S{'/'}report.md" in res.stdout
    for job, method in (("0", "none"), ("1", "dpo")):
        results = json.loads((sweep / job / "results.json").read_text())
        assert results["method"] == method and set(results["scores"]) == {"helpful", "harmless"}
    logs = sorted(sweep.glob(".submitit/*/*_log.out"))  # one process per job, each its own log
    assert len(logs) == 2 and all("Job completed successfully" in p.read_text() for p in logs)
    assert {str(sweep.resolve() / j) for j in "01"} == {
        ln.removeprefix("alignrun: run dir ")
        for p in logs
        for ln in p.read_text().splitlines()
        if "run dir" in ln
    }
    summary = _summary(sweep)
    assert [j["method"] for j in summary["jobs"]] == ["none", "dpo"] and summary["failed"] == []
    dpo = summary["jobs"][1]
    assert dpo["baseline_job"] == "0" and set(dpo["vs_baseline"]) == {"helpful", "harmless"}
    assert dpo["scores"] == json.loads((sweep / "1" / "results.json").read_text())["scores"]
    assert dpo["cost"]["trainable_params"] > 0
    report = (sweep / "report.md").read_text()
    assert "## Versus the baseline (`none`)" in report and "job 1 (`dpo`) vs job 0" in report
    assert (sweep / "comparison.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_failed_submitit_job_is_reported_and_the_others_summarised(tmp_path: Path) -> None:
    res = run_cli(
        "-m",
        *LOCAL,
        "+method=dpo",
        "method.value=helpful,bogus",
        "values=[helpful,harmless]",
        *SMOKE,
        *TINY_TRAIN,
        "hydra.sweep.dir=S",
        cwd=tmp_path,
    )
    assert res.returncode != 0
    assert "Traceback" not in res.stderr and "UncompletedJobError" not in res.stderr, res.stderr[-3000:]
    assert "alignrun: job 1 failed: method.value 'bogus' is not among the run's values" in res.stderr
    sweep = tmp_path / "S"
    summary = _summary(sweep)
    assert [j["dir"] for j in summary["jobs"]] == ["0"]  # the job that finished is still compared
    assert [(f["dir"], f["error"]) for f in summary["failed"]] == [
        ("1", "method.value 'bogus' is not among the run's values (helpful, harmless)")
    ]
    assert "method.value=bogus" in " ".join(summary["failed"][0]["overrides"])
    assert "## Failed jobs" in (sweep / "report.md").read_text()
    assert "1 job(s) failed" in res.stdout


def test_submitit_slurm_composes_and_asks_for_a_gpu_per_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Composed and rendered to the sbatch script it would submit; nothing is submitted."""
    import submitit
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor

    from alignrun.cli import _task

    cfg = compose(
        [
            "+method=dpo",
            *SMOKE,
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.gpus_per_node=1",
            "hydra.launcher.timeout_min=60",
            "hydra.launcher.cpus_per_task=8",
            "hydra.launcher.mem_gb=64",
            f"hydra.sweep.dir={tmp_path / 'S'}",
        ]
    )
    assert cfg.hydra.launcher._target_.endswith(".SlurmLauncher")
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=_task, config=cfg)
    made: list[Any] = []
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun here

    def map_array(self: Any, *args: Any) -> list[Any]:  # record the executor, submit nothing
        made.append(self)
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    launcher.launch([["+method=dpo"]], initial_job_idx=0)
    sbatch = made[0]._executor._make_submission_file_text("python -m submitit.core._submit x", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=60", "--cpus-per-task=8", "--mem=64GB"):
        assert f"#SBATCH {line}" in sbatch, sbatch


@pytest.mark.slow
def test_optuna_multi_objective_study_writes_its_pareto_set(tmp_path: Path) -> None:
    """Acceptance: 4 trials over method.beta on tiny; the Pareto set of settings lands in the sweep dir."""
    res = run_cli(
        "-m",
        "experiment=optuna_beta",
        "+method=dpo",
        "values=[helpful,harmless]",
        *SMOKE_SETTINGS,
        *TINY_TRAIN,
        "method.train.lr=0.05",  # 4 steps at this rate move the tiny model: the trials' scores differ
        "method.train.warmup_steps=0",
        "hydra.sweeper.n_trials=4",
        "hydra.sweep.dir=S",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = tmp_path / "S"
    jobs: dict[str, tuple[float, list[float]]] = {}
    for job in sorted(sweep.glob("*/results.json")):
        results = json.loads(job.read_text())
        (beta,) = [
            str(o)
            for o in OmegaConf.load(job.parent / ".hydra" / "overrides.yaml")
            if str(o).startswith("method.beta=")
        ]
        jobs[job.parent.name] = (
            float(beta.split("=")[1]),
            [results["scores"][v] for v in ("helpful", "harmless")],
        )
    assert sorted(jobs) == ["0", "1", "2", "3"]
    assert all(0.05 <= beta <= 0.5 for beta, _ in jobs.values())
    assert len({beta for beta, _ in jobs.values()}) == 4  # four settings tried, not one
    # the sweeper's Pareto set: each solution is a trial's setting with its value scores, in values order
    optimised: Any = OmegaConf.to_container(OmegaConf.load(sweep / "optimization_results.yaml"))
    solutions = optimised["solutions"]
    found = sorted((s["params"]["method.beta"], s["values"]) for s in solutions)
    dirs = sorted(jobs)
    front = [d for d, on in zip(dirs, pareto_mask([jobs[d][1] for d in dirs]), strict=True) if on]
    assert found == sorted(jobs[d] for d in front) and found
    # alignrun's sweep summary reads the same jobs and flags the same front
    summary = _summary(sweep)
    assert summary["num_jobs"] == 4 and summary["failed"] == []
    assert [j["dir"] for j in summary["jobs"] if j["pareto"]] == front
    assert "Pareto set" in (sweep / "report.md").read_text()


def test_objectives_are_the_value_scores_in_values_order() -> None:
    results = {"values": ["harmless", "helpful"], "scores": {"helpful": 0.5, "harmless": -0.25}}
    assert objectives(results) == [-0.25, 0.5]
    assert objectives({"values": ["helpful", "honest"], "scores": {"helpful": 0.5}}) is None  # a single run
    with pytest.raises(AlignrunError, match="no score for honest"):
        objectives({"values": ["helpful", "honest"], "scores": {"helpful": 0.5}}, strict=True)


def test_the_study_has_one_maximised_objective_per_value() -> None:
    cfg = compose(["+method=dpo", "experiment=optuna_beta", "values=[helpful,harmless,honest]"])
    assert cfg.hydra.sweeper.direction == ["maximize"] * 3
    assert cfg.hydra.sweeper.sampler._target_ == "optuna.samplers.NSGAIISampler"
    assert cfg.hydra.sweeper.params["method.beta"] == "interval(0.05, 0.5)"


@pytest.mark.parametrize(
    ("args", "plugin"),
    [
        (["hydra/launcher=submitit_local"], "hydra/launcher=submitit_local"),
        (["hydra/sweeper=optuna", "seed=range(0,3)"], "hydra/sweeper=optuna"),
        (["experiment=optuna_beta"], "hydra/sweeper=optuna"),
    ],
)
def test_a_missing_sweeps_plugin_is_one_line_naming_the_extra(
    tmp_path: Path, args: list[str], plugin: str
) -> None:
    hide = (  # Hydra finds no plugin in an empty hydra_plugins namespace
        "import hydra_plugins, sys; hydra_plugins.__path__ = []; "
        "from alignrun.cli import main; main(sys.argv[1:])"
    )
    res = subprocess.run(
        [sys.executable, "-c", hide, "-m", "+method=none", *SMOKE, *args, "hydra.sweep.dir=S"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled_timeout(60),
        check=False,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"alignrun: error: {plugin} needs Hydra's {plugin.split('=')[1].split('_')[0]} plugin: "
        "pip install 'alignrun[sweeps]' (docs/sweeps.md)"
    ]
    assert not (tmp_path / "S").exists()


def test_a_requeued_submitit_attempt_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    """submitit requeues a timed-out job into the same dir; what it trained there is continued.

    (End to end, by hand: `timeout_min=1` and 600 DPO steps finished in 3 attempts of 30 s.)"""
    from submitit.core.utils import UncompletedJobError

    from alignrun.cli import _launcher_timeout, _resume_requeued

    cfg = compose(["+method=dpo", *SMOKE])
    _resume_requeued(cfg, tmp_path)
    assert cfg.resume is False  # a first attempt: nothing of its own to continue
    (tmp_path / "checkpoints" / "helpful" / "step-000050").mkdir(parents=True)
    _resume_requeued(cfg, tmp_path)
    assert cfg.resume is True
    done = compose(["+method=dpo", *SMOKE])
    (tmp_path / "results.json").write_text("{}")
    _resume_requeued(done, tmp_path)
    assert done.resume is False  # a finished run is not run again
    assert _launcher_timeout(UncompletedJobError("Job not requeued because: timed-out too many times."))
    assert not _launcher_timeout(RuntimeError("timed-out"))
