"""Bad input, as a hostile user gives it: one ``alignrun: error:`` line, a non-zero exit, no
traceback, and for anything the preflight can see, no run dir.

The command line goes through :func:`alignrun.cli.main` in this process (the console script's own
entry function; Hydra is never reached for a preflight error, so nothing global changes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from alignrun.cli import main
from alignrun.config import compose

TINY = ["model=tiny", "experiment=smoke", "loggers=[]"]
DPO = ["+method=dpo", *TINY]
MVA = ["+method=mva", "values=[helpful,harmless]", *TINY]

# (case id, command line): each must stop in the preflight
PREFLIGHT: list[tuple[str, list[str]]] = [
    # untyped or out-of-range keys, every group
    ("max_new_tokens negative", [*DPO, "generation.max_new_tokens=-1"]),
    ("max_new_tokens text", [*DPO, "generation.max_new_tokens=abc"]),
    ("batch_size zero", [*DPO, "generation.batch_size=0"]),
    ("max_prompt_tokens zero", [*DPO, "generation.max_prompt_tokens=0"]),
    ("top_p above 1", [*DPO, "generation.top_p=5"]),
    ("temperature zero", [*DPO, "generation.temperature=0"]),
    ("min above max tokens", [*DPO, "generation.min_new_tokens=100"]),
    ("unknown backend", [*DPO, "generation.backend=nope"]),
    ("max_pairs text", [*DPO, "data.max_pairs=abc"]),
    ("max_pairs zero", [*DPO, "data.max_pairs=0"]),
    ("max_eval_prompts zero", [*DPO, "data.max_eval_prompts=0"]),
    ("lr text", [*DPO, "method.train.lr=abc"]),
    ("lr negative", [*DPO, "method.train.lr=-0.1"]),
    ("micro batch zero", [*DPO, "method.train.micro_batch_size=0"]),
    ("steps zero", [*DPO, "method.train.steps=0"]),
    ("batch not a multiple", [*DPO, "method.train.batch_size=6"]),
    ("max_length one", [*DPO, "method.train.max_length=1"]),
    ("lora r zero", [*DPO, "method.lora.r=0"]),
    ("lora dropout 1.5", [*DPO, "method.lora.dropout=1.5"]),
    ("lora no modules", [*DPO, "method.lora.target_modules=[]"]),
    ("beta text", [*DPO, "method.beta=abc"]),
    ("beta zero", [*DPO, "method.beta=0"]),
    ("unknown variant", [*DPO, "method.variant=nope"]),
    ("soup step zero", [*DPO, "method.variant=soup", "method.soup_step=0"]),
    ("soup step not dividing 1", [*DPO, "method.variant=soup", "method.soup_step=0.3"]),
    ("unknown method key", [*DPO, "+method.bta=1"]),
    ("unknown train key", [*DPO, "+method.train.foo=1"]),
    ("env var in a method key", [*DPO, "method.beta=${oc.env:ALIGNRUN_TEST_NOPE}"]),
    ("env var at the top", [*DPO, "seed=${oc.env:ALIGNRUN_TEST_NOPE}"]),
    ("seed text", [*DPO, "seed=abc"]),
    ("derive prompts zero", [*DPO, "derive.prompts=0"]),
    ("derive margin negative", [*DPO, "derive.margin=-1"]),
    ("derive pairs mode", [*DPO, "derive.pairs=sometimes"]),
    ("mva decorrelation", [*MVA, "method.decorrelation=nope"]),
    ("mva sampler", [*MVA, "method.extrapolation.sampler=nope"]),
    ("mva max weight zero", [*MVA, "method.extrapolation.max_weight=0"]),
    ("mva alpha negative", [*MVA, "method.alpha=-1"]),
    ("mva train steps zero", [*MVA, "method.train.steps=0"]),
    ("mva lora r text", [*MVA, "method.lora.r=abc"]),
    ("rlhf one sample", ["+method=rlhf", *TINY, "method.samples_per_prompt=1"]),
    ("rlhf sets its own steps", ["+method=rlhf", *TINY, "+method.train.steps=5"]),
    ("sae negative coefficient", ["+method=sae_steering", *TINY, "method.coefficients=[-1]"]),
    ("sae positions", ["+method=sae_steering", *TINY, "method.positions=nope"]),
    ("value graph alpha", ["+method=value_graph", *TINY, "method.alpha=2"]),
    ("steering missing keys", ["+method=none", *TINY, "steering=sae_feature"]),
    # command-line shape
    ("no method", TINY),
    ("method without +", ["method=dpo", *TINY]),
    ("unknown method", ["+method=nope", *TINY]),
    ("unknown value", [*DPO, "values=[nope]"]),
    ("value twice", [*DPO, "values=[helpful,helpful]"]),
    ("missing adapter folder", [*DPO, "model.adapter=/nonexistent/adapter"]),
    ("missing baseline", [*DPO, "results.baselines=[/nonexistent/results.json]"]),
    ("resume without a run dir", [*DPO, "resume=true"]),
    (
        "sweep with a bad job",
        ["-m", "+method=dpo,mva", "values=[helpful,harmless]", *TINY, "method.beta=abc"],
    ),
]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of the console script's entry function."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def assert_one_line(code: int, err: str) -> str:
    assert code != 0
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("alignrun: error: "), err
    return lines[0]


@pytest.mark.parametrize("args", [a for _, a in PREFLIGHT], ids=[i for i, _ in PREFLIGHT])
def test_preflight_error_is_one_line_and_leaves_no_run_dir(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    where = ["hydra.sweep.dir=S"] if "-m" in args else ["hydra.run.dir=D"]
    if "resume=true" in args:
        where = []  # the case is the missing run dir itself
    code, err = run_main([*args, *where], capsys)
    assert_one_line(code, err)
    assert list(tmp_path.iterdir()) == [], "a preflight error left files behind"


def test_messages_name_the_key_and_the_type_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = {
        "method.beta=abc": "method.beta wants a number, got 'abc'",
        "data.max_pairs=abc": "data.max_pairs wants an integer or null, got 'abc'",
        "method.train.steps=0": "method.train.steps must be >= 1, got 0",
        "generation.top_p=5": "generation.top_p must be <= 1",
        "+method.bta=1": "method.bta is not a setting of method",
        "method.beta=${oc.env:ALIGNRUN_TEST_NOPE}": "method.beta does not resolve",
    }
    for override, message in expected.items():
        line = assert_one_line(*run_main([*DPO, override, "hydra.run.dir=D"], capsys))
        assert message in line, line


def test_malformed_adapter_config_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{not json")
    line = assert_one_line(*run_main([*DPO, f"model.adapter={adapter}", "hydra.run.dir=D"], capsys))
    assert "adapter_config.json is not valid JSON" in line
    (adapter / "adapter_config.json").write_text("[1, 2]")
    line = assert_one_line(*run_main([*DPO, f"model.adapter={adapter}", "hydra.run.dir=D"], capsys))
    assert "not a PEFT adapter config" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_unwritable_run_dir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        try:  # root writes through mode bits: then only a read-only mount can show the case
            (locked / "probe").touch()
            target = Path("/proc/alignrun-test/D")
        except PermissionError:
            target = locked / "D"
        line = assert_one_line(*run_main([*DPO, f"hydra.run.dir={target}"], capsys))
        assert "cannot write the run dir" in line
    finally:
        locked.chmod(0o755)


def test_a_finished_run_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "results.json").write_text('{"method": "dpo"}\n')
    line = assert_one_line(*run_main([*DPO, "hydra.run.dir=D"], capsys))
    assert "holds a finished run" in line
    assert sorted(p.name for p in (tmp_path / "D").iterdir()) == ["results.json"]


def test_resume_with_a_changed_training_key_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = tmp_path / "D" / ".hydra" / "config.yaml"
    saved.parent.mkdir(parents=True)
    cfg = compose([*DPO, "method.train.lr=0.001"])
    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, saved)
    before = saved.read_text()
    line = assert_one_line(
        *run_main([*DPO, "method.train.lr=0.002", "hydra.run.dir=D", "resume=true"], capsys)
    )
    assert "method.train.lr (0.001 -> 0.002)" in line
    assert saved.read_text() == before  # Hydra never rewrote the run's config
    # progress bars and loggers may change on resume: nothing is refused
    from alignrun.run_dir import check_resume

    check_resume(tmp_path / "D", compose([*DPO, "method.train.lr=0.001", "method.train.progress=true"]))


def test_resume_into_an_empty_dir_says_there_is_nothing_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    line = assert_one_line(*run_main([*DPO, "hydra.run.dir=D", "resume=true"], capsys))
    assert "nothing to resume" in line


def test_results_json_lists_warnings(tmp_path: Path) -> None:
    from alignrun.loop import run_job

    pairs = tmp_path / "one.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    cfg = compose(
        [
            *DPO,
            "values=[helpful]",
            f"+data.sources.helpful.path={pairs}",
            "method.train.steps=1",
            "method.train.batch_size=2",
            "method.train.micro_batch_size=2",
            "method.train.progress=false",
        ]
    )
    results = run_job(cfg, tmp_path / "run")
    assert any("only 1 preference pair" in w for w in results["warnings"])
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Warnings" in report and "only 1 preference pair" in report
