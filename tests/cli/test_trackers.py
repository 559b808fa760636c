"""``loggers=[tensorboard|wandb|mlflow]``: what each writes reads back with the tracker's own reader.

One short DPO soup on the tiny model (two training phases, each counting steps from 1, and
``step=None`` soup and eval metrics) logs to ``jsonl`` and all three trackers at once; each tracker's
store is then read back and compared with ``metrics.jsonl``. W&B runs offline throughout.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from omegaconf import OmegaConf

from alignrun import hookimpl
from alignrun.errors import AlignrunError
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from tests.conftest import compose

TRACKERS = ("tensorboard", "wandb", "mlflow")
TINY_SOUP = [
    "+method=dpo",
    "method.variant=soup",
    "method.soup_step=0.5",
    "values=[helpful,harmless]",
    "experiment=smoke",
    "method.train.steps=3",
    "method.train.batch_size=2",
    "method.train.micro_batch_size=2",
    "method.train.max_length=64",
    "method.train.progress=false",
]


@pytest.fixture(autouse=True)
def _wandb_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def soup_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The run dir and results of one DPO soup logged to jsonl and every tracker."""
    out = tmp_path_factory.mktemp("soup")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        cfg = compose([*TINY_SOUP, "loggers=[jsonl,tensorboard,wandb,mlflow]"])
        results = run_job(cfg, out)
    return out, results


def _jsonl(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int | None, float]]]:
    """metrics.jsonl as name -> [(step, value), ...] in logged order."""
    out: dict[str, list[tuple[int | None, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "step":
                out.setdefault(key, []).append((row["step"], value))
    return out


def _expected(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """What a tracker records: a step as given, ``step=None`` as the name's count so far (0, 1, …)."""
    return {
        k: [(s if s is not None else i, v) for i, (s, v) in enumerate(pts)]
        for k, pts in _series(rows).items()
    }


def _fake_run(out: Path, resume: bool = False, main: bool = True) -> Any:
    """What a tracker reads off a run: its config, output dir and rank."""
    return SimpleNamespace(
        cfg=OmegaConf.create({"seed": 0, "resume": resume}), output_dir=out, is_main_process=main
    )


# -- the soup run, read back -------------------------------------------------------------------


@pytest.mark.slow
def test_soup_logs_both_kinds_of_steps(soup_run: tuple[Path, dict[str, Any]]) -> None:
    series = _series(_jsonl(soup_run[0]))  # the premise of the read-back tests below
    assert [s for s, _ in series["train/helpful/loss"]] == [1, 2, 3]
    assert [s for s, _ in series["train/harmless/loss"]] == [1, 2, 3]
    assert [s for s, _ in series["soup/helpful"]] == [None, None, None]  # three candidates
    assert [s for s, _ in series["eval/helpful"]] == [None]


def test_tensorboard_scalars_equal_metrics_jsonl(soup_run: tuple[Path, dict[str, Any]]) -> None:
    out, results = soup_run
    acc = _events(str(out / "tensorboard"))
    expected = _expected(_jsonl(out))
    assert set(expected) <= set(acc.Tags()["scalars"])
    for key, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(key)]
        assert [s for s, _ in got] == [s for s, _ in points], key
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6), key  # float32
    assert acc.Scalars("results/score/harmless")[0].value == pytest.approx(results["scores"]["harmless"])
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "variant: soup" in text and "soup_step: 0.5" in text
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")  # the HPARAMS tab's entry


def test_wandb_offline_run_holds_metrics_config_and_summary(soup_run: tuple[Path, dict[str, Any]]) -> None:
    out, results = soup_run
    folders = list((out / "wandb").glob("offline-run-*"))
    run_id = (out / ".wandb-run-id").read_text().strip()
    assert [f.name.endswith(run_id) for f in folders] == [True]
    records = _wandb_records(folders[0] / f"run-{run_id}.wandb")
    rows = [r for kind, r in records if kind == "history"]
    for key, points in _series(_jsonl(out)).items():
        logged = [row for row in rows if key in row]
        assert [row[key] for row in logged] == [v for _, v in points], key
        stepped = [s for s, _ in points if s is not None]
        if stepped:  # charted against the step column logged beside it
            assert [row["step"] for row in logged] == stepped, key
    summary: dict[str, Any] = {}
    for kind, update in records:
        summary |= update if kind == "summary" else {}
    assert summary["results/score/helpful"] == results["scores"]["helpful"]
    config = next(r for kind, r in records if kind == "config")
    assert config["method"]["variant"] == "soup" and config["seed"] == 0
    assert [r["exit_code"] for kind, r in records if kind == "exit"] == [0]


def test_mlflow_store_has_metrics_params_and_status(soup_run: tuple[Path, dict[str, Any]]) -> None:
    from mlflow.tracking import MlflowClient

    out, results = soup_run
    client = MlflowClient(tracking_uri=f"sqlite:///{out.resolve() / 'mlflow.db'}")
    run = client.get_run((out / ".mlflow-run-id").read_text().strip())
    assert run.info.status == "FINISHED"
    for key, points in _expected(_jsonl(out)).items():
        history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(history) == sorted(points), key  # same timestamp: the store's order is its own
    assert run.data.metrics["results/score/helpful"] == results["scores"]["helpful"]
    assert run.data.params["method.variant"] == "soup" and run.data.params["seed"] == "0"
    assert run.data.params["values.helpful._target_"].startswith("alignrun.")
    local = client.download_artifacts(run.info.run_id, "config.yaml", str(out / "dl"))
    assert "variant: soup" in Path(local).read_text()
    assert Path(local).read_bytes() == next((out / "mlartifacts").rglob("config.yaml")).read_bytes()


# -- failure, resume, ranks, missing packages ---------------------------------------------------------


class Boom:
    @hookimpl
    def alignrun_run_method(self, run: Any, method: Any) -> None:
        raise RuntimeError("boom")


def test_failed_run_is_marked_failed_in_each_tracker(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    pm = get_plugin_manager()
    pm.register(Boom())
    cfg = compose(["+method=none", "experiment=smoke", "loggers=[tensorboard,wandb,mlflow]"])
    with pytest.raises(RuntimeError, match="boom"):
        run_job(cfg, tmp_path, pm)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    assert client.get_run((tmp_path / ".mlflow-run-id").read_text().strip()).info.status == "FAILED"
    run_id = (tmp_path / ".wandb-run-id").read_text().strip()
    wandb_file = next((tmp_path / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert [r["exit_code"] for kind, r in _wandb_records(wandb_file) if kind == "exit"] == [1]
    acc = _events(str(tmp_path / "tensorboard"))
    assert b"RuntimeError: boom" in acc.Tensors("error/text_summary")[0].tensor_proto.string_val[0]


def test_tensorboard_resume_hides_the_replayed_steps(tmp_path: Path) -> None:
    from alignrun.trackers import TensorBoardLogger

    first = TensorBoardLogger()
    for step in range(1, 6):  # crashed after step 5; its newest checkpoint is step 3
        first.alignrun_log(run=_fake_run(tmp_path), metrics={"train/x/loss": float(step)}, step=step)
    first.alignrun_run_finish(run=None, results=None, error=KeyboardInterrupt())
    (tmp_path / "checkpoints" / "x" / "step-000003").mkdir(parents=True)
    again = TensorBoardLogger()
    for step in range(4, 6):
        again.alignrun_log(
            run=_fake_run(tmp_path, resume=True), metrics={"train/x/loss": 10.0 * step}, step=step
        )
    again.alignrun_run_finish(run=None, results=None, error=None)
    acc = _events(str(tmp_path / "tensorboard"))
    assert [(e.step, e.value) for e in acc.Scalars("train/x/loss")] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 40),
        (5, 50),
    ]


def test_mlflow_and_wandb_resume_continue_the_same_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from alignrun.trackers import MlflowLogger, WandbLogger

    ids = []
    for resume, value in ((False, 1.0), (True, 2.0)):
        run = _fake_run(tmp_path, resume=resume)
        for logger in (MlflowLogger(), WandbLogger()):
            logger.alignrun_log(run=run, metrics={"train/x/loss": value}, step=int(value))
            logger.alignrun_run_finish(run=run, results=None, error=None)
        ids.append(((tmp_path / ".mlflow-run-id").read_text(), (tmp_path / ".wandb-run-id").read_text()))
    assert ids[0] == ids[1]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    history = client.get_metric_history(ids[0][0].strip(), "train/x/loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 2.0)]
    assert client.get_run(ids[0][0].strip()).info.status == "FINISHED"


def test_other_ranks_open_no_tracker_run(tmp_path: Path) -> None:
    from alignrun.trackers import MlflowLogger, TensorBoardLogger, WandbLogger

    run = _fake_run(tmp_path, main=False)
    for logger in (TensorBoardLogger(), WandbLogger(), MlflowLogger()):
        logger.alignrun_run_start(run=run)
        logger.alignrun_run_finish(run=run, results={"scores": {"x": 1.0}}, error=None)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "module"),
    [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb"), ("mlflow", "mlflow")],
)
def test_missing_package_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, option: str, module: str
) -> None:
    from alignrun import trackers

    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees when the package is absent
    cls = {
        "tensorboard": trackers.TensorBoardLogger,
        "wandb": trackers.WandbLogger,
        "mlflow": trackers.MlflowLogger,
    }
    with pytest.raises(
        AlignrunError, match=rf"loggers=\[{option}\] needs .*pip install 'alignrun\[trackers\]'"
    ):
        cls[option]()


@pytest.mark.slow
def test_help_and_discovery_import_no_tracker(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from alignrun.cli import main\n"
        "from alignrun.plugins import get_plugin_manager\n"
        "import alignrun.trackers\n"
        "get_plugin_manager()\n"
        "for args in (['--help'], ['+method=none', 'loggers=[tensorboard,wandb,mlflow]', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        f"print('LOADED', [m for m in sys.modules if m.split('.')[0] in {TRACKERS!r}])\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "LOADED []" in res.stdout
    assert "tensorboard:" in res.stdout and "TensorBoardLogger" in res.stdout  # the chosen options' config


def test_configs_compose_with_every_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose(["+method=none", "loggers=[console,jsonl,tensorboard,wandb,mlflow]"])
    assert list(cfg.loggers) == ["console", "jsonl", *TRACKERS]
    assert cfg.loggers.wandb.mode == "offline"  # the autouse fixture's WANDB_MODE
    monkeypatch.delenv("WANDB_MODE")
    assert cfg.loggers.wandb.mode == "offline"  # the default without it
    monkeypatch.setenv("WANDB_MODE", "online")
    assert cfg.loggers.wandb.mode == "online"  # W&B's own variable is honoured
    assert cfg.loggers.mlflow.tracking_uri is None and cfg.loggers.tensorboard.log_dir == "tensorboard"


# -- reading W&B's offline run file ----------------------------------------------------------------


def _wandb_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(kind, data) of the history, summary, config and exit records in a ``run-<id>.wandb`` file.

    W&B ships no reader for it any more: it is a LevelDB-style log (a 7-byte ``:W&B`` header, 32 KiB
    blocks, records of 4-byte CRC, 2-byte length, 1-byte type split over blocks) of
    ``wandb_internal_pb2.Record`` protobufs whose values are JSON text.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, chunk, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind not in (1, 4):  # FIRST or MIDDLE: the record goes on in the next block
            continue
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(chunk)
        chunk = b""
        which = record.WhichOneof("record_type")
        if which == "history":
            out.append(("history", {_key(i): json.loads(i.value_json) for i in record.history.item}))
        elif which == "summary":
            out.append(("summary", {_key(i): json.loads(i.value_json) for i in record.summary.update}))
        elif which in ("run", "config"):
            items = record.run.config.update if which == "run" else record.config.update
            config = {_key(i): json.loads(i.value_json) for i in items if _key(i) != "_wandb"}
            if config:
                out.append(("config", config))
        elif which == "exit":
            out.append(("exit", {"exit_code": record.exit.exit_code}))
    return out


def _events(path: str) -> Any:
    """TensorBoard's own reader of the event files in ``path``, loaded."""
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    acc = EventAccumulator(path)
    acc.Reload()
    return acc


def _key(item: Any) -> str:
    """An item's name: W&B writes it as ``key`` or as a one-part ``nested_key``, by version."""
    return str(item.key or ".".join(item.nested_key))
