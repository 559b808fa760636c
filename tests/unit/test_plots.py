"""pareto.png, its baselines, and the sweep comparison's fronts panel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from alignrun.callbacks import SweepSummary
from alignrun.contracts import Candidate
from alignrun.errors import AlignrunError
from alignrun.plots import load_baselines, plot_pareto
from alignrun.results import build_results, finish_candidates, write_results
from tests.conftest import SMOKE, assert_one_line_run_error, run_cli, tiny_train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SOUP = [
    "+method=dpo",
    "method.variant=soup",
    "values=[helpful,harmless]",
    *tiny_train(1, batch_size=2, max_length=None),
    "method.soup_step=0.5",
    "data.max_pairs=4",
]


def _image_shape(path: Path) -> tuple[int, ...]:
    """Check ``path`` is a whole PNG and return its (height, width, channels)."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    shape = tuple(matplotlib.image.imread(path).shape)
    assert shape[0] > 200 and shape[1] > 200, shape
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers
    return shape


def _candidates(values: list[str]) -> list[Candidate]:
    grid = [(0.0, 1.0, 0.2), (0.5, 0.5, 0.1), (1.0, 0.0, 0.4), (0.4, 0.4, 0.0), (0.2, 0.9, 0.3)]
    cands = [
        Candidate(weights={v: 1 / len(values) for v in values}, scores=dict(zip(values, s, strict=False)))
        for s in grid
    ]
    finish_candidates(cands, values, reference=-1.0)
    return cands


def _written_results(out: Path, values: list[str], with_candidates: bool) -> Path:
    """A results.json as a run writes it (the real writer, not a hand-made dict)."""
    cands = _candidates(values) if with_candidates else []
    results = build_results(
        method="dpo" if with_candidates else "none",
        model="tiny",
        values=values,
        scores={v: 0.25 for v in values},
        candidates=cands,
        hypervolume=finish_candidates(cands, values, -1.0),
        value_profile=None,
        metrics={},
        timings={},
    )
    write_results(out, results, -1.0)
    return out / "results.json"


@pytest.mark.parametrize("n_values", [2, 3])
@pytest.mark.parametrize("with_baselines", [False, True])
def test_plot_pareto_writes_a_png(tmp_path: Path, n_values: int, with_baselines: bool) -> None:
    values = ["helpful", "harmless", "honest"][:n_values]
    results = json.loads(_written_results(tmp_path, values, with_candidates=True).read_text())
    flags = [c["pareto"] for c in results["candidates"]]
    assert any(flags) and not all(flags)  # both kinds of point get drawn
    baselines = (
        {"dpo (soup)": [{v: 0.3 for v in values}, {v: 0.6 for v in values}], "none (x)": [{"helpful": 0.1}]}
        if with_baselines
        else None
    )
    plot_pareto(values, results["candidates"], tmp_path / "pareto.png", baselines)
    _image_shape(tmp_path / "pareto.png")


def test_plot_pareto_needs_two_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two values"):
        plot_pareto(["helpful"], [{"scores": {"helpful": 1.0}, "pareto": True}], tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


def test_load_baselines_reads_candidates_or_final_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = ["helpful", "harmless"]
    soup = _written_results(tmp_path / "soup", values, with_candidates=True)
    plain = _written_results(tmp_path / "plain", values, with_candidates=False)
    monkeypatch.chdir(tmp_path)  # relative paths are resolved against the working directory
    baselines = load_baselines([str(soup), "plain/results.json"])
    assert list(baselines) == ["dpo (soup)", "none (plain)"]
    assert baselines["dpo (soup)"] == [c.scores for c in _candidates(values)]
    assert baselines["none (plain)"] == [{"helpful": 0.25, "harmless": 0.25}]
    assert list(load_baselines([plain, plain])) == ["none (plain)", "none (plain) #2"]
    assert load_baselines([]) == {}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ('{"method": "dpo", "candidates": []}', 'no "scores"'),
        ("{not json", "not JSON"),
        ('{"scores": {"helpful": "high"}, "candidates": []}', "malformed scores"),
        ('{"scores": {}, "candidates": [{"weights": {}}]}', "malformed scores"),
    ],
)
def test_load_baselines_errors_name_the_file(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "run" / "results.json"
    if content is not None:
        path.parent.mkdir()
        path.write_text(content)
    with pytest.raises(AlignrunError, match=needle) as info:
        load_baselines([path])
    message = str(info.value)
    assert str(path) in message and "\n" not in message


@pytest.mark.slow
def test_cli_run_with_candidates_writes_pareto_png_with_baselines(tmp_path: Path) -> None:
    base = run_cli("+method=none", *SMOKE, "values=[helpful,harmless]", "hydra.run.dir=BASE", cwd=tmp_path)
    assert base.returncode == 0, base.stderr[-2000:]
    res = run_cli(*SOUP, *SMOKE, "results.baselines=[BASE/results.json]", "hydra.run.dir=D", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = tmp_path / "D"
    assert json.loads((run_dir / "results.json").read_text())["candidates"]
    _image_shape(run_dir / "pareto.png")
    assert "- pareto_plot: `pareto.png`" in (run_dir / "report.md").read_text()


def test_a_bad_baseline_fails_before_the_run_dir_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative path, as typed on the command line
    args = [*SOUP, *SMOKE, "results.baselines=[nowhere/results.json]"]
    assert_one_line_run_error(args, str(tmp_path / "nowhere" / "results.json"), tmp_path / "D")
    assert not (tmp_path / "D").exists()  # read before any training or output


def _fake_sweep(sweep: Path, hypervolumes: list[float | None]) -> None:
    for i, hv in enumerate(hypervolumes):
        job = sweep / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- +method=mva\n- method.alpha={i}\n")
        scores = {"helpful": 0.1 * i, "harmless": -0.2}
        results: dict[str, Any] = {  # an older results.json: no intervals, no samples.jsonl
            "method": "mva",
            "model": "tiny",
            "scores": scores,
            "hypervolume": hv,
            "candidates": [] if hv is None else [{"scores": scores, "pareto": True}],
        }
        (job / "results.json").write_text(json.dumps(results))


def test_sweep_comparison_adds_a_front_panel(tmp_path: Path) -> None:
    shapes = {}
    sweeps: dict[str, list[float | None]] = {"plain": [None, None, None], "hv": [1.5, None, 2.25]}
    for name, hvs in sweeps.items():
        _fake_sweep(tmp_path / name, hvs)
        SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / name)}}}))
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert [job["hypervolume"] for job in summary["jobs"]] == hvs
        assert summary["baseline"] is None  # no `none` job: no verdicts, and the report says how to get them
        assert "hydra.callbacks.sweep_summary.baseline" in (tmp_path / name / "report.md").read_text()
        shapes[name] = _image_shape(tmp_path / name / "comparison.png")
    assert shapes["hv"][1] > shapes["plain"][1]  # the same scores panel plus the fronts'
