"""Shared fixtures: compose the real configs, shrunk (tiny model, 2 prompts per value)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from alignrun import hookimpl
from alignrun.config import compose

SMOKE = ["experiment=smoke", "loggers=[]"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def smoke_cfg() -> DictConfig:
    """The real primary config with ``+method=none experiment=smoke``."""
    return compose(["+method=none", *SMOKE])


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m alignrun ARGS`` in ``cwd`` as a user would (fresh process)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "alignrun", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class KillAfterCheckpoint:
    """A plugin that interrupts the run right after a given checkpoint, as a kill would."""

    def __init__(self, phase: str, step: int) -> None:
        self.phase, self.step = phase, step

    @hookimpl
    def alignrun_checkpoint_saved(self, run: Any, path: Path, step: int) -> None:
        if path.parent.name == self.phase and step == self.step:
            raise KeyboardInterrupt


def assert_same_adapters(run_a: Path, run_b: Path, names: list[str]) -> None:
    """The named PEFT adapters two runs saved under ``adapters/`` are bit-equal."""
    from safetensors.torch import load_file

    for name in names:
        a = load_file(run_a / "adapters" / name / "adapter_model.safetensors")
        b = load_file(run_b / "adapters" / name / "adapter_model.safetensors")
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), name


def assert_one_line_error(
    res: subprocess.CompletedProcess[str], needle: str, run_dir: Path | None = None
) -> None:
    """The CLI failed with one ``alignrun: error:`` line holding ``needle``, no traceback, no results."""
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("alignrun: error:")]
    assert len(errors) == 1 and needle in errors[0], res.stderr[-1500:]
    assert "Traceback" not in res.stderr
    if run_dir is not None:
        assert not (run_dir / "results.json").exists()
