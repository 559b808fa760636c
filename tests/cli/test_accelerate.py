"""Data parallelism through Accelerate: two CPU ranks train what one process trains.

Each launch splits the same global batch over 2 gloo ranks; the engine (DDP, prepared by
Accelerate in the shared Trainer) averages their gradients, so the adapters equal the one-process
run's up to float summation order, and the logged metrics are the whole batch's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SMOKE, assert_same_adapters, run_cli, scaled_timeout

TRAIN = [
    "method.train.steps=3",
    "method.train.batch_size=8",
    "method.train.micro_batch_size=2",  # 2 micro-batches per rank: gradients sync on the last only
    "method.train.max_length=64",
    "method.train.progress=false",
]
LAUNCHERS = {
    "accelerate": [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "docs" / "accelerate" / "ddp.yaml"),
        "--num_processes",
        "2",
        "-m",
        "alignrun",
    ],
    "torchrun": [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "alignrun",
    ],
}
CASES = {
    "dpo": (["+method=dpo", "values=[helpful]"], ["helpful"]),
    "mva": (["+method=mva", "values=[helpful,harmless]"], ["helpful", "harmless"]),
}


def train_metrics(run: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if any(k.startswith("train/") for k in r)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "case"), [("accelerate", "dpo"), ("accelerate", "mva"), ("torchrun", "dpo")]
)
def test_two_cpu_ranks_write_one_run_dir_and_match_one_process(
    tmp_path: Path, launcher: str, case: str
) -> None:
    method, adapters = CASES[case]
    overrides = [*method, *SMOKE, "loggers=[jsonl]", *TRAIN]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [*LAUNCHERS[launcher], *overrides, "hydra.run.dir=DDP"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled_timeout(600),
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DDP"]  # rank 1 wrote nothing beside it
    assert json.loads((tmp_path / "DDP" / "results.json").read_text())["method"] == case
    single = run_cli(*overrides, "hydra.run.dir=ONE", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    assert_same_adapters(tmp_path / "DDP", tmp_path / "ONE", adapters, atol=1e-6)
    # the metrics are the global batch's (each rank's share summed), not rank 0's half
    ddp, one = train_metrics(tmp_path / "DDP"), train_metrics(tmp_path / "ONE")
    assert len(ddp) == len(one) == 3 * len(adapters)
    for a, b in zip(ddp, one, strict=True):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) <= 1e-5 * max(1.0, abs(b[k])) for k in a if k != "step"), (a, b)
