"""Hydra callback: after a multirun, one comparison of every job in the sweep dir.

The comparison itself (paired differences vs a baseline job, verdicts, the picture) is
:mod:`alignrun.sweep_report`; it reads each job's files from disk rather than remembering jobs in
memory, so it works with launchers that run jobs in other processes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("alignrun")


class SweepSummary(Callback):
    """Writes ``summary.json``, ``report.md`` and ``comparison.png`` into the sweep dir.

    Args:
        baseline: the method (or job dir) every job is compared with; None: ``none`` when the
            sweep has a ``none`` job, else no verdicts. Set with
            ``hydra.callbacks.sweep_summary.baseline=dpo``.
        seed: the bootstrap's seed.
    """

    def __init__(self, baseline: str | None = None, seed: int = 0) -> None:
        self.baseline = baseline
        self.seed = seed

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from alignrun.sweep_report import write_comparison

        sweep_dir = Path(config.hydra.sweep.dir)
        write_comparison(sweep_dir, self.baseline, self.seed)
        log.info("sweep summary: %s", sweep_dir / "summary.json")
        print(f"alignrun: sweep report {sweep_dir / 'report.md'}", flush=True)
