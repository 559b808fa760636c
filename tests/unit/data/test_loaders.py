"""Real-format loaders (PKU-SafeRLHF, HH-RLHF, ValueBench) on small local files written here."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import datasets
import pytest
from hydra.utils import instantiate

from alignrun import AlignrunError, Value
from alignrun.config import compose
from alignrun.data.loaders import hh_rlhf, pku_saferlhf, split_transcript, valuebench_questionnaire
from tests.conftest import scaled_timeout

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the arrow files ``datasets`` writes for local files out of the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets-cache")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _rows(ds: Any) -> list[tuple[str, str, str]]:
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    return list(zip(ds["prompt"], ds["chosen"], ds["rejected"], strict=True))


# --- PKU-SafeRLHF -----------------------------------------------------------------------------------

LOCK = "How do I open a lock without its key?"
REFUSE = "I can't help with getting into property that isn't yours; a locksmith can."
COMPLY = "Push a tension wrench into the keyway and rake the pins until they set."
CAT = "Suggest a name for a grey kitten."
MISO = "Miso suits a grey kitten: short, soft and easy to call."
DULL = "Cats are animals."


def _pku(prompt: str, r0: str, r1: str, better: int, safer: int) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "response_0": r0,
        "response_1": r1,
        "is_response_0_safe": safer == 0,
        "is_response_1_safe": safer == 1,
        "better_response_id": better,
        "safer_response_id": safer,
        "response_0_severity_level": 0,
    }


PKU_ROWS = [
    _pku(LOCK, REFUSE, COMPLY, better=1, safer=0),
    _pku("What is 2 + 2?", "4", "4", better=0, safer=0),  # identical: dropped
    _pku("What is 3 + 3?", "6", " 6 \n", better=1, safer=1),  # identical but for whitespace: dropped
    _pku(CAT, MISO, DULL, better=0, safer=0),
]


def test_pku_targets_order_pairs_by_their_own_id(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "train.jsonl", PKU_ROWS)
    assert _rows(pku_saferlhf(str(file), target="harmless")) == [(LOCK, REFUSE, COMPLY), (CAT, MISO, DULL)]
    assert _rows(pku_saferlhf(str(file), target="helpful")) == [(LOCK, COMPLY, REFUSE), (CAT, MISO, DULL)]
    assert _rows(pku_saferlhf(str(file), target="helpful", max_rows=1)) == [(LOCK, COMPLY, REFUSE)]


def test_pku_folder_like_the_hub_repo_reads_one_split(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "data" / "Alpaca-7B" / "train.jsonl", PKU_ROWS[:2])
    _write_jsonl(tmp_path / "data" / "Alpaca-7B" / "test.jsonl", [_pku("held out?", "a", "b", 0, 1)])
    datasets.Dataset.from_list(PKU_ROWS[3:]).to_parquet(
        str(tmp_path / "data" / "Alpaca2-7B" / "train.parquet")
    )
    (tmp_path / "README.md").write_text("not data")
    assert _rows(pku_saferlhf(str(tmp_path))) == [(LOCK, REFUSE, COMPLY), (CAT, MISO, DULL)]
    assert _rows(pku_saferlhf(str(tmp_path), split="test")) == [("held out?", "b", "a")]
    with pytest.raises(AlignrunError, match=r"no 'validation' files .*it has splits: test, train"):
        pku_saferlhf(str(tmp_path), split="validation")


def test_pku_reads_csv(tmp_path: Path) -> None:
    file = tmp_path / "pku.csv"
    with file.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(PKU_ROWS[0]))
        writer.writeheader()
        writer.writerows(PKU_ROWS)
    assert _rows(pku_saferlhf(str(file), target="helpful")) == [(LOCK, COMPLY, REFUSE), (CAT, MISO, DULL)]


def test_pku_errors_are_clear(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "safer_response_id"} for row in PKU_ROWS]
    file = _write_jsonl(tmp_path / "no_safer.jsonl", rows)
    with pytest.raises(AlignrunError, match=r"no_safer\.jsonl lacks column\(s\) safer_response_id"):
        pku_saferlhf(str(file), target="harmless")
    assert len(pku_saferlhf(str(file), target="helpful")) == 2  # helpful does not need it
    same = _write_jsonl(tmp_path / "same.jsonl", PKU_ROWS[1:3])
    with pytest.raises(AlignrunError, match="no usable preference pairs"):
        pku_saferlhf(str(same))
    bad_id = _write_jsonl(tmp_path / "bad_id.jsonl", [_pku(LOCK, REFUSE, COMPLY, better=2, safer=0)])
    with pytest.raises(AlignrunError, match=r"bad_id\.jsonl, data row 1: better_response_id is 2"):
        pku_saferlhf(str(bad_id), target="helpful")
    with pytest.raises(AlignrunError, match="target must be"):
        pku_saferlhf(str(file), target="honest")
    with pytest.raises(AlignrunError, match="no such file or folder"):
        pku_saferlhf(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    _write_jsonl(tmp_path / "empty" / ".hidden" / "train.jsonl", PKU_ROWS)  # hidden folders are skipped
    with pytest.raises(AlignrunError, match="no data files"):
        pku_saferlhf(str(tmp_path / "empty"))
    with pytest.raises(AlignrunError, match="max_rows"):
        pku_saferlhf(str(file), target="helpful", max_rows=0)


# --- HH-RLHF ----------------------------------------------------------------------------------------

PLANT_Q = "What is a good houseplant for low light?"
PLANT_GOOD = "A snake plant copes well with low light and rare watering."
PLANT_BAD = "Plants need light."
BREAD_HISTORY = "\n\n".join(
    [
        "Human: I want to bake bread.",
        "Assistant: Great, what kind?",
        "Human: Sourdough. How long do I proof it?",
    ]
)
BREAD = f"\n\n{BREAD_HISTORY}"
BREAD_GOOD = "Usually 4 to 6 hours at room temperature, until it has grown by about half."
BREAD_BAD = "Bread is tasty."

HH_ROWS = [
    {
        "chosen": f"\n\nHuman: {PLANT_Q}\n\nAssistant: {PLANT_GOOD}",
        "rejected": f"\n\nHuman: {PLANT_Q}\n\nAssistant: {PLANT_BAD}",
    },
    {"chosen": f"{BREAD}\n\nAssistant: {BREAD_GOOD}", "rejected": f"{BREAD}\n\nAssistant: {BREAD_BAD}"},
    {  # histories differ: skipped
        "chosen": "\n\nHuman: Tell me a joke.\n\nAssistant: Why did the scarecrow win? He was outstanding.",
        "rejected": "\n\nHuman: Tell me a story.\n\nAssistant: Once upon a time.",
    },
    {  # empty final response: skipped
        "chosen": "\n\nHuman: Say hi.\n\nAssistant: Hi!",
        "rejected": "\n\nHuman: Say hi.\n\nAssistant:",
    },
    {"chosen": "\n\nHuman: hello", "rejected": "\n\nHuman: hello"},  # no Assistant turn: skipped
]

HH_FULL = [
    (f"Human: {PLANT_Q}", PLANT_GOOD, PLANT_BAD),
    (BREAD_HISTORY, BREAD_GOOD, BREAD_BAD),
]


def test_split_transcript_at_the_last_assistant_turn() -> None:
    assert split_transcript(HH_ROWS[1]["chosen"]) == (HH_FULL[1][0], BREAD_GOOD)
    assert split_transcript("\n\nHuman: hello") is None


def test_hh_gz_file_full_and_last_turn(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "train.jsonl.gz", HH_ROWS)
    assert _rows(hh_rlhf(str(file))) == HH_FULL
    assert _rows(hh_rlhf(str(file), history="last_turn")) == [
        (PLANT_Q, PLANT_GOOD, PLANT_BAD),
        ("Sourdough. How long do I proof it?", BREAD_GOOD, BREAD_BAD),
    ]
    assert _rows(hh_rlhf(str(file), max_rows=1)) == HH_FULL[:1]


def test_hh_repo_folder_reads_the_subset_and_split(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "harmless-base" / "train.jsonl.gz", HH_ROWS[:1])
    _write_jsonl(tmp_path / "harmless-base" / "test.jsonl.gz", HH_ROWS[1:2])
    _write_jsonl(tmp_path / "helpful-base" / "train.jsonl.gz", HH_ROWS[1:])
    assert _rows(hh_rlhf(str(tmp_path), subset="harmless-base")) == HH_FULL[:1]
    assert _rows(hh_rlhf(str(tmp_path), subset="harmless-base", split="test")) == HH_FULL[1:]
    assert _rows(hh_rlhf(str(tmp_path), subset="helpful-base")) == HH_FULL[1:]


def test_hh_errors_are_clear(tmp_path: Path) -> None:
    file = _write_jsonl(tmp_path / "train.jsonl", [{"chosen": "x", "answer": "y"}])
    with pytest.raises(AlignrunError, match=r"train\.jsonl lacks column\(s\) rejected"):
        hh_rlhf(str(file))
    skipped = _write_jsonl(tmp_path / "skipped.jsonl", HH_ROWS[2:])
    with pytest.raises(AlignrunError, match="no usable preference pairs"):
        hh_rlhf(str(skipped))
    with pytest.raises(AlignrunError, match="history must be"):
        hh_rlhf(str(skipped), history="none")


# --- ValueBench -------------------------------------------------------------------------------------

VB_HEADER = ["questionnaire", "item", "value", "agreement", "question"]
VB_ROWS = [
    [
        "PVQ-RR",
        1,
        "Self-Direction",
        1,
        "Is it important to you to form your own views, even when others disagree?",
    ],
    ["PVQ-RR", 2, "Self-Direction", -1, "Would you rather let others decide how you live?"],
    ["PVQ-RR", 3, "Benevolence", 1, "Do you go out of your way to help the people close to you?"],
    ["NFCC", 4, "Need for Closure", 1, "Do you dislike situations whose outcome you cannot predict?"],
    ["NFCC", 5, "Need for Closure", -1, "Do you enjoy keeping several options open for a long time?"],
    ["SVS", 6, "Self-Direction", 1, "Do you value choosing your own goals?"],
]


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _item(row: list[Any]) -> dict[str, Any]:
    return {"question": row[4], "polarity": row[3], "item": row[1], "questionnaire": row[0]}


def test_valuebench_values_in_file_order(tmp_path: Path) -> None:
    file = _write_csv(tmp_path / "value_orientation.csv", VB_HEADER, VB_ROWS)
    values = valuebench_questionnaire(str(file))
    assert values == {
        "self_direction": Value(
            name="self_direction",
            description="Self-Direction, as measured by PVQ-RR, SVS (ValueBench, 3 items).",
            questionnaire=[_item(VB_ROWS[0]), _item(VB_ROWS[1]), _item(VB_ROWS[5])],
        ),
        "benevolence": Value(
            name="benevolence",
            description="Benevolence, as measured by PVQ-RR (ValueBench, 1 items).",
            questionnaire=[_item(VB_ROWS[2])],
        ),
        "need_for_closure": Value(
            name="need_for_closure",
            description="Need for Closure, as measured by NFCC (ValueBench, 2 items).",
            questionnaire=[_item(VB_ROWS[3]), _item(VB_ROWS[4])],
        ),
    }
    assert all(type(q["polarity"]) is int for v in values.values() for q in v.questionnaire or [])


def test_valuebench_filters(tmp_path: Path) -> None:
    file = str(_write_csv(tmp_path / "value_orientation.csv", VB_HEADER, VB_ROWS))
    assert list(valuebench_questionnaire(file, questionnaire="PVQ-RR")) == ["self_direction", "benevolence"]
    pvq = valuebench_questionnaire(file, questionnaire=["PVQ-RR"], min_items=2)
    assert list(pvq) == ["self_direction"]
    assert pvq["self_direction"].questionnaire == [_item(VB_ROWS[0]), _item(VB_ROWS[1])]
    assert list(valuebench_questionnaire(file, questionnaire=["NFCC", "SVS"])) == [
        "need_for_closure",
        "self_direction",
    ]
    with pytest.raises(AlignrunError, match=r"no value of questionnaire\(s\) NFCC .* at least 3 item"):
        valuebench_questionnaire(file, questionnaire="NFCC", min_items=3)
    with pytest.raises(AlignrunError, match=r"questionnaire\(s\) BFI not in .*it has: NFCC, PVQ-RR, SVS"):
        valuebench_questionnaire(file, questionnaire="BFI")


def test_valuebench_errors_name_the_column_and_row(tmp_path: Path) -> None:
    bad = [*VB_ROWS[:1], ["PVQ-RR", 2, "Self-Direction", 2, "Do you like deciding?"]]
    file = _write_csv(tmp_path / "wrong_agreement.csv", VB_HEADER, bad)
    with pytest.raises(AlignrunError, match=r"wrong_agreement\.csv, row 3 .*agreement is 2, not \+1 or -1"):
        valuebench_questionnaire(str(file))
    header = [c for c in VB_HEADER if c != "agreement"]
    file = _write_csv(tmp_path / "no_agreement.csv", header, [[r[0], r[1], r[2], r[4]] for r in VB_ROWS])
    with pytest.raises(AlignrunError, match=r"no_agreement\.csv lacks column\(s\) agreement"):
        valuebench_questionnaire(str(file))
    empty = _write_csv(tmp_path / "empty_question.csv", VB_HEADER, [["PVQ-RR", 1, "Power", 1, ""]])
    with pytest.raises(AlignrunError, match=r"row 2 .*empty 'question'"):
        valuebench_questionnaire(str(empty))
    with pytest.raises(AlignrunError, match="no such file"):
        valuebench_questionnaire(str(tmp_path / "nope.csv"))


# --- the Hub, offline -------------------------------------------------------------------------------


def test_hub_names_fail_fast_and_clearly_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub and datasets read these at import time, so the check runs in a fresh process
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    script = textwrap.dedent(
        """
        from alignrun.errors import AlignrunError
        from alignrun.data.loaders import hh_rlhf, pku_saferlhf
        for load in (pku_saferlhf, hh_rlhf):
            try:
                load()
            except AlignrunError as err:
                print(err)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=scaled_timeout(20),
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2, res.stdout + res.stderr
    for line, name in zip(lines, ["PKU-Alignment/PKU-SafeRLHF", "Anthropic/hh-rlhf"], strict=True):
        assert f"cannot load '{name}'" in line and "cannot be reached (offline?)" in line
        assert "pass the local path: path=DIR" in line


# --- configs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["pku_saferlhf", "hh_rlhf"])
def test_configs_compose(option: str) -> None:
    cfg = compose(["+method=none", f"data={option}"])
    assert cfg.data._target_ == "alignrun.data.DataSpec"
    assert set(cfg.data.sources) == {"helpful", "harmless"}
    assert cfg.data.sources.harmless._target_ == f"alignrun.data.loaders.{option}"


def test_hh_config_on_local_files_feeds_the_values(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "hh" / "harmless-base" / "train.jsonl.gz", HH_ROWS[:1])
    _write_jsonl(tmp_path / "hh" / "helpful-base" / "train.jsonl.gz", HH_ROWS[1:2])
    cfg = compose(
        [
            "+method=none",
            "data=hh_rlhf",
            "values=[helpful,harmless]",
            f"data.sources.helpful.path={tmp_path / 'hh'}",
            f"data.sources.harmless.path={tmp_path / 'hh'}",
        ]
    )
    spec = instantiate(cfg.data, _convert_="all")
    values = {name: Value(name=name, eval_prompts=["p"]) for name in ("helpful", "harmless")}
    data = spec.prepare(values)
    assert _rows(data.pairs["harmless"]) == HH_FULL[:1]
    assert _rows(data.pairs["helpful"]) == HH_FULL[1:]


def test_valuebench_profile_config_runs_self_report(tmp_path: Path) -> None:
    from alignrun.models.tiny import build_tiny

    csv = tmp_path / "value_orientation.csv"
    csv.write_text(
        "questionnaire,item,value,agreement,question\n"
        "PVQ-RR,1,Benevolence,1,Do you go out of your way to help friends?\n"
        "PVQ-RR,2,Benevolence,-1,Do you ignore friends who need you?\n"
        "PVQ-RR,3,Power,1,Do you want to control what others do?\n",
        encoding="utf-8",
    )
    cfg = compose(
        ["+method=none", "profile=valuebench", f"profile.values.path={csv}", "profile.values.min_items=1"]
    )
    profiler = instantiate(cfg.profile, _convert_="all")
    assert profiler.mode == "logprob" and list(profiler.values) == ["benevolence", "power"]
    scores = profiler.measure(build_tiny()).scores
    assert set(scores) == {"benevolence", "power"} and all(-1 <= s <= 1 for s in scores.values())
