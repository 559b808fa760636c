"""Built-in ``loggers=`` choices. A logger is a plugin object implementing ``alignrun_log``;
the core loop registers each configured logger with the run's plugin manager."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from alignrun.hookspecs import hookimpl

if TYPE_CHECKING:
    from alignrun.contracts import Run

log = logging.getLogger("alignrun")


class ConsoleLogger:
    """``loggers=[console]``: metrics as log lines (Hydra also copies them to the job's .log file)."""

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        where = f"step {step}: " if step is not None else ""
        log.info("%s%s", where, "  ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))


class JsonlLogger:
    """``loggers=[jsonl]``: one JSON object per ``alignrun_log`` call in ``<run dir>/<filename>``."""

    def __init__(self, filename: str = "metrics.jsonl") -> None:
        self.filename = filename
        self._file: IO[str] | None = None

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        if self._file is None:
            self._file = Path(run.output_dir, self.filename).open("a", encoding="utf-8")  # noqa: SIM115 (open across calls; closed in run_finish)
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()  # a crashed run keeps every line logged so far

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)
