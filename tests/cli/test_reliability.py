"""Faults around a run: a second run into a busy dir, interrupted and resumed runs, corrupt
checkpoints and caches, plugins that raise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alignrun import hookimpl
from alignrun.config import compose
from alignrun.errors import AlignrunError
from alignrun.loop import run_job
from alignrun.plugins import failing_plugin, get_plugin_manager
from alignrun.run_dir import LOCK_FILE, claim, release
from tests.conftest import (
    SMOKE,
    KillAfterCheckpoint,
    assert_same_adapters,
    empty_cache,
    run_cli,
    scaled_timeout,
)

TRAIN = [
    "+method=dpo",
    "values=[helpful,harmless]",
    "method.variant=soup",
    "method.soup_step=0.5",
    *SMOKE,
    "method.train.steps=4",
    "method.train.batch_size=4",
    "method.train.micro_batch_size=2",
    "method.train.max_length=64",
    "method.train.progress=false",
    "method.train.checkpoint_every=2",
]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("alignrun:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


@pytest.mark.slow
def test_a_second_run_into_a_busy_dir_fails_cleanly_and_the_first_keeps_its_files(tmp_path: Path) -> None:
    first = tmp_path / "D"
    claim(first)  # this process is the first run
    try:
        (first / "metrics.jsonl").write_text('{"step": 1}\n')
        res = run_cli("+method=none", *SMOKE, f"hydra.run.dir={first}", cwd=tmp_path)
        assert res.returncode == 2
        assert f"in use by another alignrun run (pid {os.getpid()})" in one_error_line(res.stderr)
        assert sorted(p.name for p in first.iterdir()) == sorted([LOCK_FILE, "metrics.jsonl"])
        assert (first / "metrics.jsonl").read_text() == '{"step": 1}\n'
    finally:
        release(first)
    res = run_cli("+method=none", *SMOKE, f"hydra.run.dir={first}", cwd=tmp_path)  # free again
    assert res.returncode == 0, res.stderr[-2000:]


def test_a_killed_run_does_not_leave_its_dir_locked(tmp_path: Path) -> None:
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom alignrun.run_dir import claim\n"
        f"claim(Path({str(tmp_path / 'D')!r}))\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(AlignrunError, match="in use"):
        claim(tmp_path / "D")
    holder.kill()
    holder.wait()
    claim(tmp_path / "D")  # the kernel dropped the dead process's lock
    release(tmp_path / "D")


@pytest.mark.slow
def test_sigint_ends_with_one_line_that_says_how_to_resume(tmp_path: Path) -> None:
    args = [*TRAIN, "method.train.steps=400", "method.train.checkpoint_every=1", "hydra.run.dir=D"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignrun", *args],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("D/checkpoints/*/step-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=scaled_timeout(120))
    assert proc.returncode == 130
    line = one_error_line(stderr)
    assert "interrupted after checkpoint checkpoints/" in line
    assert "resume with: alignrun " in line and "resume=true" in line and "hydra.run.dir=" in line


@pytest.mark.slow
def test_resume_with_a_changed_lr_is_refused_by_the_checkpoint(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    pm.register(KillAfterCheckpoint("helpful", 2))
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(TRAIN), tmp_path / "run", pm)
    with pytest.raises(AlignrunError, match=r"method\.train\.lr \(0\.0005 -> 0\.001\)"):
        run_job(compose([*TRAIN, "method.train.lr=0.001", "resume=true"]), tmp_path / "run")


@pytest.mark.slow
def test_corrupt_latest_checkpoint_falls_back_to_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    straight = run_job(compose(TRAIN), tmp_path / "straight")
    pm = get_plugin_manager()
    pm.register(KillAfterCheckpoint("harmless", 4))  # helpful is done; harmless holds step-2 and step-4
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(TRAIN), tmp_path / "resumed", pm)
    latest = tmp_path / "resumed" / "checkpoints" / "harmless" / "step-000004"
    (latest / "state.safetensors").write_bytes(b"\x00garbage")
    resumed = run_job(compose([*TRAIN, "resume=true"]), tmp_path / "resumed")
    assert any("does not load" in w and "step-000004" in w for w in resumed["warnings"])
    assert_same_adapters(tmp_path / "straight", tmp_path / "resumed", ["helpful", "harmless"])
    assert resumed["scores"] == straight["scores"]


@pytest.mark.slow
def test_metrics_log_does_not_repeat_the_steps_a_resume_replays(tmp_path: Path) -> None:
    overrides = [t for t in TRAIN if t != "loggers=[]"] + ["loggers=[jsonl]"]
    pm = get_plugin_manager()
    pm.register(KillAfterCheckpoint("harmless", 2))
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(overrides), tmp_path / "run", pm)
    log = tmp_path / "run" / "metrics.jsonl"
    with log.open("a") as f:  # what the killed run logged after its last checkpoint: replayed below
        f.write(json.dumps({"step": 3, "train/harmless/loss": 9.0}) + "\n")
    run_job(compose([*overrides, "resume=true"]), tmp_path / "run")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [(k.split("/")[1], r["step"]) for r in rows for k in r if k.endswith("/loss")]
    assert sorted(steps) == sorted({*steps}), "a training step is logged twice"
    assert [s for v, s in steps if v == "harmless"] == [1, 2, 3, 4]
    assert 9.0 not in [r.get("train/harmless/loss") for r in rows]


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alignrun.lib.sae.activations import cache_key, cached_activations
    from alignrun.models.tiny import build_tiny

    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path / "cache"))
    lm = build_tiny()
    texts = ["one text", "another text"]
    fresh = cached_activations(lm, texts, layer=0, progress=False)
    entry = tmp_path / "cache" / "activations" / cache_key(lm.name, 0, texts, 256) / "activations.safetensors"
    entry.write_bytes(b"not a safetensors file")
    again = cached_activations(lm, texts, layer=0, progress=False)
    assert again.equal(fresh)
    assert entry.read_bytes() != b"not a safetensors file"  # rebuilt, so later runs read it


class Raises:
    """A plugin that fails in one hook."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    @hookimpl
    def alignrun_log(self, run: Any, metrics: dict[str, float], step: int | None) -> None:
        if self.hook == "alignrun_log":
            raise RuntimeError("logger down")

    @hookimpl
    def alignrun_run_finish(self, run: Any, results: Any, error: Any) -> None:
        if self.hook == "alignrun_run_finish":
            raise RuntimeError("upload failed")


def test_a_plugin_that_raises_is_named_with_its_hook(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    pm.register(Raises("alignrun_log"), name="flaky-logger")
    with pytest.raises(RuntimeError, match="logger down") as info:
        run_job(compose(["+method=none", *SMOKE]), tmp_path / "run", pm)
    assert failing_plugin(info.value) == ("flaky-logger", "alignrun_log")


def test_a_run_finish_failure_after_results_does_not_fail_the_run(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    pm.register(Raises("alignrun_run_finish"), name="uploader")
    results = run_job(compose(["+method=none", *SMOKE]), tmp_path / "run", pm)
    assert (tmp_path / "run" / "results.json").exists() and results["scores"]


@pytest.mark.slow
def test_the_cli_names_a_failing_plugin_in_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "flaky_plugin.py"
    plugin.write_text(
        "from alignrun import hookimpl\n\n"
        "@hookimpl\ndef alignrun_run_start(run):\n    raise RuntimeError('tracker unreachable')\n"
    )
    script = (
        "import sys\nfrom alignrun import plugins\nimport flaky_plugin\n"
        "make = plugins.get_plugin_manager\n"
        "def with_flaky(**kw):\n    pm = make(**kw)\n"
        "    pm.register(flaky_plugin, name='flaky')\n    return pm\n"
        "plugins.get_plugin_manager = with_flaky\n"
        "import alignrun.loop\nalignrun.loop.get_plugin_manager = with_flaky\n"
        "from alignrun.cli import main\nmain(sys.argv[1:])\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script, "+method=none", *SMOKE, "hydra.run.dir=D"],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=scaled_timeout(300),
        check=False,
    )
    assert res.returncode == 1
    line = one_error_line(res.stderr)
    assert "plugin 'flaky' failed in alignrun_run_start: RuntimeError: tracker unreachable" in line
    assert f" at {plugin.resolve()}:5 " in line  # the failing file (its raise), by full path
    assert (tmp_path / "D" / "traceback.txt").read_text().count("tracker unreachable") >= 1


def test_no_pickle_and_remote_code_off_by_default() -> None:
    import inspect
    import re

    from alignrun.models.hf import load_hf
    from alignrun.scorers.reward_model import RewardModelScorer

    root = Path(__file__).resolve().parents[2]
    sources = [p for d in ("core", "plugins") for p in (root / d).rglob("*.py")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        unsafe = r"^\s*import pickle|(?<!safetensors\.)torch\.load\(|trust_remote_code=True"
        assert not re.search(unsafe, text, re.M), path
    for loader in (load_hf, RewardModelScorer):
        assert inspect.signature(loader).parameters["trust_remote_code"].default is False
