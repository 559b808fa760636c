"""Fuzz: a judge endpoint (``judge=llm``) as the network gives it — down, slow, answering garbage,
failing then recovering — through a whole run; and its API key, which no file of the run dir, log or
config may hold (issue 35)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.test_bad_input import TINY, assert_one_line, run_main
from tests.unit.judges.test_llm import KEY, Script, scripted  # noqa: F401  (the fixture)

ENV = "ALIGNRUN_JUDGE_KEY"


def _args(url: str, *extra: str) -> list[str]:
    return [
        "+method=none", *TINY, "values=[helpful]", "judge=llm", f"judge.evaluator.base_url={url}",
        "judge.evaluator.model=m", f"judge.evaluator.api_key_env={ENV}", "hydra.run.dir=D", *extra,
    ]  # fmt: skip


def _complete(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from alignrun.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        main(args)
    except SystemExit as done:
        assert done.code in (0, None)
    assert (tmp_path / "D" / "results.json").is_file()
    return tmp_path / "D"


def _failed(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main(args, capsys))
    assert not (tmp_path / "D" / "results.json").exists()
    return line


def test_an_endpoint_that_is_down_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    line = _failed(_args(url), tmp_path, monkeypatch, capsys)
    assert f"cannot reach {url}/chat/completions" in line


def test_an_endpoint_that_answers_500_then_recovers_completes_the_run(
    scripted: tuple[str, Script],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, script = scripted
    script.replies = [(500, "overloaded", 0.0), (503, "busy", 0.0)]
    _complete(_args(url), tmp_path, monkeypatch)
    assert not script.replies  # both failures were sent, and retried past


@pytest.mark.parametrize(
    ("reply", "extra", "says"),
    [
        ((200, "7", 2.0), ["judge.evaluator.timeout=0.3"], "timed out"),
        ((500, "internal error", 0.0), [], "HTTP 500"),
        ((200, "I would rather talk about the weather.", 0.0), [], "unparseable"),
    ],
    ids=["slower than its timeout", "only failing", "answering garbage"],
)
def test_an_endpoint_that_never_answers_usefully_is_one_line(
    reply: tuple[int, str, float],
    extra: list[str],
    says: str,
    scripted: tuple[str, Script],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, script = scripted
    script.default = reply  # garbage is never reported as a score
    line = _failed(_args(url, "judge.evaluator.retries=1", *extra), tmp_path, monkeypatch, capsys)
    assert says in line, line


def test_the_api_key_is_sent_but_written_nowhere(
    scripted: tuple[str, Script],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, script = scripted
    monkeypatch.setenv(ENV, KEY)
    run = _complete(_args(url, "loggers=[jsonl,tensorboard]"), tmp_path, monkeypatch)
    assert all(seen[0].get("Authorization") == f"Bearer {KEY}" for seen in script.seen)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"results.json", "report.md", "alignrun.log", "config.yaml"}
    for file in files:  # results, report, log, .hydra/, metrics, tracker event files
        assert KEY.encode() not in file.read_bytes(), file


def test_an_api_key_given_as_a_setting_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _failed(
        _args("http://127.0.0.1:9/v1", f"+judge.evaluator.api_key={KEY}"), tmp_path, monkeypatch, capsys
    )
    assert "judge.evaluator.api_key is not a setting" in line and KEY not in line
    assert not (tmp_path / "D").exists()  # the key never reached .hydra/
