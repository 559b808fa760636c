"""Hydra callback: after a multirun, one comparison of every job in the sweep dir.

The comparison itself (paired differences vs a baseline job, verdicts, the picture) is
:mod:`alignrun.sweep_report`; it reads each job's files from disk rather than remembering jobs in
memory, so it works with launchers that run jobs in other processes (submitit's local processes
and SLURM jobs: the callback runs on the submitting side, after every job has ended).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alignrun.settings import from_yaml, signature_from

log = logging.getLogger("alignrun")

_unfinished: dict[Path, SweepSummary] = {}  # sweep dir -> its callback, from multirun start to end


@signature_from("alignrun.yaml", "hydra.callbacks.sweep_summary")
class SweepSummary(Callback):
    """Writes ``summary.json``, ``report.md`` and ``comparison.png`` into the sweep dir.

    Args:
        baseline: the method (or job dir) every job is compared with; None: ``none`` when the
            sweep has a ``none`` job, else no verdicts. Set with
            ``hydra.callbacks.sweep_summary.baseline=dpo``.
        seed: the bootstrap's seed.
    """

    def __init__(self, baseline: str | None = from_yaml(), seed: int = 0) -> None:
        self.baseline = baseline
        self.seed = seed

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _unfinished[Path(config.hydra.sweep.dir)] = self

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for started in [d for d, c in _unfinished.items() if c is self]:
            del _unfinished[started]
        self.summarise(Path(config.hydra.sweep.dir))

    def summarise(self, sweep_dir: Path) -> None:
        """Compare the jobs of ``sweep_dir`` that finished; list those that failed."""
        from alignrun.sweep_report import write_comparison

        summary = write_comparison(sweep_dir, self.baseline, self.seed)
        log.info("sweep summary: %s", sweep_dir / "summary.json")
        failed = f" ({len(summary['failed'])} job(s) failed: see there)" if summary["failed"] else ""
        print(f"alignrun: sweep report {sweep_dir / 'report.md'}{failed}", flush=True)


def summarise_unfinished_sweeps() -> None:
    """The summary of each sweep this process started that Hydra did not end (a failed job made
    the sweeper raise, or Ctrl-C): the jobs that finished are compared all the same."""
    while _unfinished:
        sweep_dir, callback = _unfinished.popitem()
        if not sweep_dir.is_dir():
            continue
        try:
            callback.summarise(sweep_dir)
        except Exception as exc:  # the sweep's own error is what the user must see
            log.warning("sweep summary not written: %s: %s", type(exc).__name__, exc)
