"""Shared fixtures: compose the real configs, shrunk (tiny model, 2 prompts per value)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from alignrun import hookimpl
from alignrun.cache import cache_dir
from alignrun.config import compose
from alignrun.errors import AlignrunError

SMOKE = ["experiment=smoke", "loggers=[]"]
REPO = Path(__file__).resolve().parents[1]
USER_CACHE = cache_dir()  # read before any test points ALIGNRUN_CACHE elsewhere


def tiny_train(steps: int, batch_size: int = 4, max_length: int | None = 64) -> list[str]:
    """``method.train`` overrides that train ``model=tiny`` in seconds: ``steps`` optimizer steps of
    ``batch_size`` pairs in micro-batches of 2, answers cut at ``max_length`` tokens, no progress bars."""
    return [
        f"method.train.steps={steps}",
        f"method.train.batch_size={batch_size}",
        "method.train.micro_batch_size=2",
        *([f"method.train.max_length={max_length}"] if max_length else []),
        "method.train.progress=false",
    ]


def empty_cache(path: Path) -> str:
    """A fresh alignrun cache at ``path`` holding only the tiny model's pretrained weights.

    A test that wants an empty cache (to see an entry built, rebuilt or refused) would otherwise
    retrain ``model=tiny`` (~10 s each); its weights are trained once into the user cache and copied.
    """
    from alignrun.models.tiny import build_tiny

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNRUN_CACHE", str(USER_CACHE))
        build_tiny()
    (path / "models").mkdir(parents=True, exist_ok=True)
    for entry in (USER_CACHE / "models").glob("tiny-*.safetensors"):
        shutil.copyfile(entry, path / "models" / entry.name)
    return str(path)


@pytest.fixture
def smoke_cfg() -> DictConfig:
    """The real primary config with ``+method=none experiment=smoke``."""
    return compose(["+method=none", *SMOKE])


def scaled_timeout(seconds: float) -> float | None:
    """A subprocess timeout: ``seconds`` times ``$ALIGNRUN_TEST_TIMEOUT_SCALE`` (default 1; 0: none).

    The limits are several times each job's wall time on a 2-core box (the packaged-model default
    run: 53 s in CI against 900 s), so only a hung job trips them; a much slower or loaded
    machine scales them instead of failing a correct install.
    """
    scale = float(os.environ.get("ALIGNRUN_TEST_TIMEOUT_SCALE") or 1)
    return seconds * scale if scale > 0 else None


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m alignrun ARGS`` in ``cwd`` as a user would (fresh process), at most
    :func:`scaled_timeout` ``(timeout)`` seconds."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    limit = scaled_timeout(timeout)
    try:
        return subprocess.run(
            [sys.executable, "-m", "alignrun", *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pass  # failed below, outside the handler, so the report is one line, not a chained traceback
    pytest.fail(
        f"alignrun {' '.join(args)} ran past {limit:.0f} s; on a slow or loaded machine raise "
        "ALIGNRUN_TEST_TIMEOUT_SCALE (e.g. 3; 0 disables the limit)",
        pytrace=False,
    )


class KillAfterCheckpoint:
    """A plugin that interrupts the run right after a given checkpoint, as a kill would."""

    def __init__(self, phase: str, step: int) -> None:
        self.phase, self.step = phase, step

    @hookimpl
    def alignrun_checkpoint_saved(self, run: Any, path: Path, step: int) -> None:
        if path.parent.name == self.phase and step == self.step:
            raise KeyboardInterrupt


def assert_same_adapters(run_a: Path, run_b: Path, names: list[str], atol: float = 0.0) -> None:
    """The named PEFT adapters two runs saved under ``adapters/`` are bit-equal (or within ``atol``)."""
    import torch
    from safetensors.torch import load_file

    for name in names:
        a = load_file(run_a / "adapters" / name / "adapter_model.safetensors")
        b = load_file(run_b / "adapters" / name / "adapter_model.safetensors")
        assert a.keys() == b.keys(), name
        assert all(torch.allclose(a[k], b[k], rtol=0, atol=atol) for k in a), name


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


def assert_one_line_run_error(overrides: list[str], needle: str, run_dir: Path) -> AlignrunError:
    """The in-process twin of :func:`assert_one_line_error` for an error the run itself raises
    (``check_config``, a baseline file, a method's, steering's or data's constructor, a method's own
    check in ``fit``), not one only the CLI's preflight makes (an unknown option, the command line's
    shape): ``run_job`` raises one one-line :class:`AlignrunError` holding ``needle``, no results.

    The CLI prints it as its one ``alignrun: error:`` line with a non-zero exit
    (``tests/cli/test_cli.py::test_unreachable_model_is_one_line`` shows that in a subprocess); here the
    check skips a subprocess's imports and Hydra start (~5-10 s each).
    """
    from alignrun.loop import run_job

    cfg = compose(overrides)
    with pytest.raises(AlignrunError, match=re.escape(needle)) as info:
        run_job(cfg, run_dir)
    assert "\n" not in str(info.value) and info.value.exit_code != 0, str(info.value)
    assert not (run_dir / "results.json").exists()
    return info.value
