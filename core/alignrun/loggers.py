"""Built-in ``loggers=`` choices. A logger is a plugin object implementing ``alignrun_log``;
the core loop registers each configured logger with the run's plugin manager."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from alignrun.hookspecs import hookimpl
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from alignrun.run import Run

log = logging.getLogger("alignrun")


class ConsoleLogger:
    """``loggers=[console]``: metrics as log lines (Hydra also copies them to the job's .log file)."""

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        where = f"step {step}: " if step is not None else ""
        log.info("%s%s", where, "  ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))


@signature_from("loggers/jsonl.yaml", "jsonl")
class JsonlLogger:
    """``loggers=[jsonl]``: one JSON object per ``alignrun_log`` call in ``<run dir>/<filename>``."""

    def __init__(self, filename: str = from_yaml()) -> None:
        self.filename = filename
        self._file: IO[str] | None = None

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        if self._file is None:
            path = Path(run.output_dir, self.filename)
            if run.cfg.get("resume") and path.exists():  # what comes after the checkpoint is replayed
                with path.open("r+b") as f:
                    f.truncate(min(_covered(Path(run.output_dir), self.filename), path.stat().st_size))
            self._file = path.open("a", encoding="utf-8")
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()  # a crashed run keeps every line logged so far

    @hookimpl
    def alignrun_checkpoint_saved(self, run: Run, path: Path, step: int) -> None:
        if self._file is not None:  # how much of the log this checkpoint covers: a resume keeps that much
            size = Path(run.output_dir, self.filename).stat().st_size
            (path / f"{self.filename}.offset").write_text(str(size))

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _covered(out: Path, filename: str) -> int:
    """Bytes of ``filename`` the run's newest checkpoint had seen (0 without one: all is replayed)."""
    sizes = [int(p.read_text() or 0) for p in out.glob(f"checkpoints/*/step-*/{filename}.offset")]
    return max(sizes, default=0)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)
