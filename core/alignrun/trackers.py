"""Experiment trackers as ``loggers=`` choices: ``tensorboard``, ``wandb``, ``mlflow`` (docs/trackers.md).

Each is a plugin object like the loggers in :mod:`alignrun.loggers` and sees what ``jsonl`` sees: every
``alignrun_log`` call, plus the resolved config when the run starts and ``results.json``'s
headline numbers when it ends. A tracker's package is imported only when its option is chosen
(the constructor fails at once, before any model loads, when it is missing); nothing here is
imported by ``--help`` or plugin discovery. Only the main process opens a tracker run:
``alignrun_log`` fires on rank 0 alone, but the loggers are built and finished on every rank.

Steps: a metric logged with a step is recorded at that step. A run-level metric (``step=None``:
the final ``eval/*`` scores, a soup's candidates) is recorded at its own count, 0, 1, … —
the n-th time that name was logged — so a soup's candidates line up in the order they were tried.
W&B keeps its own row counter instead (see :class:`WandbLogger`).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError
from alignrun.hookspecs import hookimpl
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from alignrun.run import Run

log = logging.getLogger("alignrun")

INSTALL = "pip install 'alignrun[trackers]'"


def _require(module: str, option: str) -> Any:
    """Import ``module`` for ``loggers=[option]``, or fail with the one line that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AlignrunError(
            f"loggers=[{option}] needs a package that is not installed ({exc}): {INSTALL}"
        ) from None


class _Steps:
    """The step each value is recorded at: its own, or for ``step=None`` how often its name came before."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, key: str, step: int | None) -> int:
        if step is not None:
            return int(step)
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        return n


@signature_from("loggers/tensorboard.yaml", "tensorboard")
class TensorBoardLogger:
    """``loggers=[tensorboard]``: event files in ``<run dir>/<log_dir>``; ``tensorboard --logdir <run dir>``.

    The config goes in as a text entry at start; at the end ``results.json``'s scores are written as
    ``results/*`` scalars and, with the flattened config, as an HPARAMS entry so a sweep's jobs compare
    there. TensorBoard has no run status: a failed run gets an ``error`` text entry instead.
    """

    def __init__(self, log_dir: str = from_yaml()) -> None:
        self.log_dir = log_dir
        self._tb = _require("torch.utils.tensorboard", "tensorboard")
        self._writer: Any = None
        self._steps = _Steps()
        self._config: dict[str, Any] = {}

    def _start(self, run: Run) -> Any:
        if self._writer is None and run.is_main_process:
            # a resumed run replays what came after its newest checkpoint: hide the first attempt's copy
            purge = _resume_step(Path(run.output_dir)) if run.cfg.get("resume") else None
            self._writer = self._tb.SummaryWriter(str(Path(run.output_dir, self.log_dir)), purge_step=purge)
            self._config = _config(run)
            self._writer.add_text("config", _yaml_block(self._config), 0)
        return self._writer

    @hookimpl
    def alignrun_run_start(self, run: Run) -> None:
        self._start(run)

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        writer = self._start(run)
        if writer is None:  # another rank: only the main process writes
            return
        for key, value in _scalars(metrics).items():
            writer.add_scalar(key, value, self._steps(key, step))

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if self._writer is None:
            return
        try:
            if results is not None:
                summary = _summary(results)
                from torch.utils.tensorboard.summary import hparams

                params = {
                    k: v if isinstance(v, int | float | str | bool) else str(v)
                    for k, v in _flatten(self._config).items()
                }
                for entry in hparams(params, summary):  # the HPARAMS tab's experiment, session start and end
                    self._writer.file_writer.add_summary(entry)
                for key, value in summary.items():
                    self._writer.add_scalar(key, value, 0)
            if error is not None:
                self._writer.add_text("error", f"{type(error).__name__}: {error}", 0)
        except Exception as exc:  # run_finish must not raise: the run's outcome stands
            log.warning("loggers=[tensorboard]: final entries not written: %s: %s", type(exc).__name__, exc)
        finally:
            self._writer.close()
            self._writer = None


@signature_from("loggers/wandb.yaml", "wandb")
class WandbLogger:
    """``loggers=[wandb]``: a Weights & Biases run, offline by default (``wandb sync`` uploads it later).

    ``config=`` is the resolved config; the final scores go into the run summary; a failed run
    finishes with exit code 1 (W&B marks it failed). W&B's own step must only grow, but each training
    phase counts its steps from 1, so rows use W&B's row counter and a stepped metric is charted
    against a ``step`` column logged beside it (``define_metric``). The run id is kept in
    ``<run dir>/.wandb-run-id``: ``resume=true`` continues that run online (``resume="allow"``);
    offline, W&B starts a second folder under the same id.
    """

    def __init__(
        self,
        project: str = from_yaml(),
        entity: str | None = from_yaml(),
        name: str | None = from_yaml(),
        group: str | None = from_yaml(),
        tags: Sequence[str] = from_yaml(),
        mode: str = "offline",
        dir: str = from_yaml(),  # W&B's own name for it
    ) -> None:
        self.settings = {"project": project, "entity": entity, "name": name, "group": group, "mode": mode}
        self.tags = [str(t) for t in tags]
        self.dir = dir
        self._wandb = _require("wandb", "wandb")
        self._run: Any = None
        self._stepped: set[str] = set()

    def _start(self, run: Run) -> Any:
        if self._run is None and run.is_main_process:
            out = Path(run.output_dir)
            id_file = out / ".wandb-run-id"
            resume = bool(run.cfg.get("resume")) and id_file.exists()
            run_id = id_file.read_text().strip() if resume else None  # None: W&B makes one
            where = Path(out, self.dir)
            where.mkdir(parents=True, exist_ok=True)
            try:
                self._run = self._wandb.init(
                    **self.settings,
                    tags=self.tags or None,
                    dir=str(where),
                    config=_config(run),
                    id=run_id,
                    resume="allow" if resume else None,
                )
            except Exception as exc:  # e.g. mode=online without `wandb login`
                raise AlignrunError(
                    f"loggers=[wandb]: wandb.init failed: {type(exc).__name__}: {exc}"
                ) from exc
            id_file.write_text(self._run.id + "\n")
        return self._run

    @hookimpl
    def alignrun_run_start(self, run: Run) -> None:
        self._start(run)

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        wb = self._start(run)
        row: dict[str, Any] = dict(_scalars(metrics))
        if wb is None or not row:  # another rank; or nothing chartable, which would still cost a row
            return
        if step is not None:
            for key in row.keys() - self._stepped:
                wb.define_metric(key, step_metric="step")
                self._stepped.add(key)
            row["step"] = int(step)
        wb.log(row)

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if self._run is None:
            return
        try:
            if results is not None:
                self._run.summary.update(_summary(results))
            self._run.finish(exit_code=0 if error is None else 1)
        except Exception as exc:  # run_finish must not raise: the run's outcome stands
            log.warning("loggers=[wandb]: run not finished cleanly: %s: %s", type(exc).__name__, exc)
        finally:
            self._run = None


@signature_from("loggers/mlflow.yaml", "mlflow")
class MlflowLogger:
    """``loggers=[mlflow]``: an MLflow run in ``tracking_uri`` (default: a SQLite store in the run dir).

    Through an ``MlflowClient`` of its own, not ``mlflow.start_run``: no process-wide active run,
    so jobs of a sweep in one process never log into each other. The flattened config becomes the
    run's params (each cut to MLflow's length limit; the whole of it is the artifact ``config.yaml``),
    the final scores ``results/*`` metrics, the status FINISHED, FAILED or KILLED (interrupted).
    The run id is kept in ``<run dir>/.mlflow-run-id``: ``resume=true`` continues that run (its
    params stay as first logged, since MLflow does not let them change).
    """

    def __init__(
        self,
        tracking_uri: str | None = from_yaml(),
        experiment: str = from_yaml(),
        run_name: str | None = from_yaml(),
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self._mlflow = _require("mlflow", "mlflow")
        self._client: Any = None
        self._run_id = ""
        self._steps = _Steps()

    def _start(self, run: Run) -> Any:
        if self._client is None and run.is_main_process:
            out = Path(run.output_dir).resolve()
            uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
            # MLflow 3 refuses a plain file store unless told to; SQLite is the local store it recommends
            local = not uri
            uri = uri or f"sqlite:///{out / 'mlflow.db'}"
            try:
                client = self._mlflow.tracking.MlflowClient(tracking_uri=uri)
                experiment_id = self._experiment(client, out / "mlartifacts" if local else None)
            except ImportError as exc:
                raise AlignrunError(
                    f"loggers=[mlflow]: the store {uri} needs {exc.name or exc}, which mlflow-skinny lacks: "
                    "pip install mlflow (it also gives `mlflow ui`), or set loggers.mlflow.tracking_uri "
                    "to a tracking server"
                ) from None
            id_file = out / ".mlflow-run-id"
            previous = id_file.read_text().strip() if run.cfg.get("resume") and id_file.exists() else ""
            if previous and _mlflow_run_exists(client, previous):
                client.update_run(previous, status="RUNNING")
                self._run_id = previous
            else:
                made = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
                self._run_id = made.info.run_id
                config = _config(run)
                params = [self._mlflow.entities.Param(*kv) for kv in _mlflow_params(_flatten(config))]
                client.log_batch(self._run_id, params=params)
                from omegaconf import OmegaConf

                client.log_text(self._run_id, OmegaConf.to_yaml(config), "config.yaml")
            id_file.write_text(self._run_id + "\n")
            self._client = client
        return self._client

    def _experiment(self, client: Any, artifacts: Path | None) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        # in the run dir's own store its artifacts go beside it, not into ./mlruns of the cwd
        location = artifacts.as_uri() if artifacts else None
        try:
            return str(client.create_experiment(self.experiment, artifact_location=location))
        except self._mlflow.exceptions.MlflowException:  # a parallel job of the sweep made it first
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)

    def _log(self, values: dict[str, float], step: int | None) -> None:
        now = int(time.time() * 1000)
        Metric = self._mlflow.entities.Metric
        metrics = [Metric(_mlflow_key(k), v, now, self._steps(k, step)) for k, v in values.items()]
        self._client.log_batch(self._run_id, metrics=metrics)

    @hookimpl
    def alignrun_run_start(self, run: Run) -> None:
        self._start(run)

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        if self._start(run) is not None:  # None: another rank, which writes nothing
            self._log(_scalars(metrics), step)

    @hookimpl
    def alignrun_run_finish(
        self, run: Run | None, results: dict[str, Any] | None, error: BaseException | None
    ) -> None:
        if self._client is None:
            return
        status = (
            "FINISHED" if error is None else "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        )
        try:
            if results is not None:
                self._log(_summary(results), None)
            self._client.set_terminated(self._run_id, status=status)
        except Exception as exc:  # run_finish must not raise: the run's outcome stands
            log.warning("loggers=[mlflow]: run not ended cleanly: %s: %s", type(exc).__name__, exc)
        finally:
            self._client = None


# -- shared by the trackers ------------------------------------------------------------------


def _config(run: Run) -> dict[str, Any]:
    """``run.cfg`` as plain data with interpolations resolved, less Hydra's own node."""
    from omegaconf import OmegaConf

    body = OmegaConf.masked_copy(run.cfg, [str(k) for k in run.cfg if k != "hydra"])
    try:
        tree = OmegaConf.to_container(body, resolve=True)
    except Exception:  # an interpolation only a running Hydra app resolves: keep it as written
        tree = OmegaConf.to_container(body, resolve=False)
    return {str(k): v for k, v in tree.items()} if isinstance(tree, dict) else {}


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c`` keys; a list stays one value, as JSON (a list reads better whole)."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(tree) if isinstance(tree, list) else tree}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers among ``metrics``: trackers chart numbers only (``jsonl`` keeps the rest)."""
    return {
        str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _summary(results: Mapping[str, Any]) -> dict[str, float]:
    """``results.json``'s headline numbers: ``results/score/<value>``, ``results/hypervolume``,
    ``results/profile/<value>``; finite ones only."""
    out = {f"results/score/{k}": v for k, v in (results.get("scores") or {}).items()}
    out["results/hypervolume"] = results.get("hypervolume")
    out |= {f"results/profile/{k}": v for k, v in (results.get("value_profile") or {}).items()}
    return {k: v for k, v in _scalars(out).items() if math.isfinite(v)}


def _yaml_block(config: dict[str, Any]) -> str:
    """The config as YAML in a Markdown code block (TensorBoard's text tab renders Markdown)."""
    from omegaconf import OmegaConf

    return "\n".join("    " + line for line in OmegaConf.to_yaml(config).splitlines())


def _resume_step(out: Path) -> int:
    """The first step a resumed run logs again: one past its newest checkpoint (0 without one).

    With several training phases (``dpo`` ``variant=sequential|soup``) this is the furthest phase's
    step: a phase whose checkpoint lags may show its replayed steps below it twice, but no step a
    resume does not log again is hidden.
    """
    steps = [int(p.name.split("-")[-1]) for p in out.glob("checkpoints/*/step-*") if p.name[5:].isdigit()]
    return max(steps) + 1 if steps else 0


_MLFLOW_BAD = re.compile(r"[^\w\-. :/]")  # what MLflow accepts in a param or metric name


def _mlflow_key(key: str) -> str:
    return _MLFLOW_BAD.sub("_", key)[:250]


def _mlflow_params(flat: dict[str, Any]) -> list[tuple[str, str]]:
    """Params MLflow takes: names it allows, values cut to its length limit (6000 in MLflow 3)."""
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
    except ImportError:  # an MLflow that does not export it: its oldest limit
        limit = 500
    params = []
    for key, value in flat.items():
        text = value if isinstance(value, str) else json.dumps(value)
        params.append((_mlflow_key(key), text if len(text) <= limit else text[: limit - 3] + "..."))
    return params


def _mlflow_run_exists(client: Any, run_id: str) -> bool:
    try:
        client.get_run(run_id)
    except Exception:  # deleted, or a store other than the first attempt's
        return False
    return True
