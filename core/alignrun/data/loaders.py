"""Loaders for public alignment datasets, from the Hugging Face Hub or a local copy in the real format.

* :func:`pku_saferlhf` — PKU-SafeRLHF pairs, helpful or harmless (``conf/data/pku_saferlhf.yaml``).
* :func:`hh_rlhf` — Anthropic HH-RLHF pairs, one subset (``conf/data/hh_rlhf.yaml``).
* :func:`preference_pairs` — your own pairs: one row per pair with a prompt, a chosen and a rejected
  response (``+data.sources.<value>.path=my.jsonl``; column names configurable).
* :func:`valuebench_questionnaire` — ValueBench questionnaire items as :class:`~alignrun.Value` s.

``path`` is either a local file or folder, or a Hub dataset name. A local path is read with
``datasets`` by extension (``.jsonl``, ``.json``, ``.jsonl.gz``, ``.json.gz``, ``.parquet``, ``.csv``);
a folder is searched recursively for such files (hidden folders skipped) and, where file names carry
split names (``train.jsonl``, ``test-00000-of-00001.parquet``: ``datasets``' own rules), only those of
``split`` are read. A Hub
name goes to ``datasets.load_dataset``; when that fails (offline, not found, gated) the loader raises
one :class:`~alignrun.errors.AlignrunError` saying how to download the data and pass the local path.
Set ``HF_HUB_OFFLINE=1`` to fail at once instead of retrying an unreachable Hub.

``datasets`` is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alignrun.contracts import Value
from alignrun.data import PAIR_COLUMNS
from alignrun.errors import AlignrunError

_BUILDERS = {  # file suffix -> datasets packaged builder
    ".jsonl": "json",
    ".json": "json",
    ".jsonl.gz": "json",
    ".json.gz": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}
_ASSISTANT = "\n\nAssistant:"
_HUMAN = "\n\nHuman:"


# ---------------------------------------------------------------------------------------------------
# Your own pairs
# ---------------------------------------------------------------------------------------------------

FORMATS = {  # what each loader reads, named in its errors
    "preference_pairs": "one row per pair with columns prompt, chosen, rejected (other names via "
    "prompt_column=, chosen_column=, rejected_column=) in .jsonl/.json/.csv/.parquet files or a folder",
    "pku_saferlhf": "PKU-SafeRLHF rows: prompt, response_0, response_1, better/safer_response_id",
    "hh_rlhf": "HH-RLHF rows: chosen and rejected transcripts ('Human: ... Assistant: ...')",
    "prompt_file": "one row per prompt with a column prompt (another name via prompt_column=) and an "
    "optional group column (group_column=)",
    "valuebench_questionnaire": "ValueBench value_orientation.csv: questionnaire, item, value, agreement, "
    "question",
}


def preference_pairs(
    path: str,
    split: str = "train",
    prompt_column: str = "prompt",
    chosen_column: str = "chosen",
    rejected_column: str = "rejected",
    max_rows: int | None = None,
) -> Any:
    """Your own preference pairs: ``+data.sources.<value>.path=my.jsonl`` trains ``<value>`` on them.

    Format: one row per pair, a prompt, the preferred (chosen) and the dispreferred (rejected)
    response, e.g. ``{"prompt": "...", "chosen": "...", "rejected": "..."}`` per line of a JSONL file.

    Args:
        path: a local file (``.jsonl``, ``.json``, ``.jsonl.gz``, ``.csv``, ``.parquet``), a folder of them
            (a saved Hugging Face dataset's data files too; split names in file names are honoured), or
            a Hub dataset name.
        split: which split a folder's files (or a Hub dataset) give.
        prompt_column, chosen_column, rejected_column: the columns holding each part.
        max_rows: keep at most this many pairs, the first in file order (None: all).

    Raises:
        AlignrunError: unreadable path, a missing column (the message names the expected format), no
            usable rows (empty strings and chosen == rejected are skipped).
    """
    _check_max_rows(max_rows)
    columns = (prompt_column, chosen_column, rejected_column)
    rows: dict[str, list[str]] = {c: [] for c in PAIR_COLUMNS}
    for _, table in _tables(path, split, columns, "preference_pairs"):
        for prompt, chosen, rejected in zip(*(table[c] for c in columns), strict=True):
            if _full(rows, max_rows):
                break
            prompt, chosen, rejected = _text(prompt), _text(chosen), _text(rejected)
            if prompt and chosen and rejected and chosen != rejected:
                _append(rows, prompt, chosen, rejected)
    return _pairs(rows, path, "preference_pairs")


# ---------------------------------------------------------------------------------------------------
# PKU-SafeRLHF
# ---------------------------------------------------------------------------------------------------


def pku_saferlhf(
    path: str = "PKU-Alignment/PKU-SafeRLHF",
    target: str = "harmless",
    split: str = "train",
    max_rows: int | None = None,
) -> Any:
    """Preference pairs for helpfulness or harmlessness from PKU-SafeRLHF.

    Format (https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF, one JSON object per line in
    ``data/<generator>/{train,test}.jsonl``): ``prompt``, ``response_0``, ``response_1``,
    ``is_response_0_safe``, ``is_response_1_safe``, ``better_response_id`` (0/1: the more helpful
    response), ``safer_response_id`` (0/1: the safer response), plus harm categories and severity levels
    that are ignored here. Each row gives one pair; ``target`` picks which preference orders it.

    Args:
        path: a Hub dataset name, or a local file or folder in the format above.
        target: ``"helpful"`` (chosen = ``better_response_id``) or ``"harmless"``
            (chosen = ``safer_response_id``).
        split: the split to read (a folder's files are picked by this name; a single file is read whole).
        max_rows: keep at most this many pairs, the first in file order (None: all).

    Returns:
        A ``datasets.Dataset`` with columns exactly ``prompt``, ``chosen``, ``rejected``. Rows whose two
        responses are identical (after stripping whitespace), or with an empty prompt or response, are
        dropped.

    Raises:
        AlignrunError: unknown ``target``; the Hub is unreachable or has no such dataset; a file lacks a
            required column; an id is not 0 or 1; no pairs are left.
    """
    id_column = {"helpful": "better_response_id", "harmless": "safer_response_id"}.get(target)
    if id_column is None:
        raise AlignrunError(f"pku_saferlhf: target must be 'helpful' or 'harmless', not '{target}'")
    _check_max_rows(max_rows)
    required = ("prompt", "response_0", "response_1", id_column)
    rows: dict[str, list[str]] = {c: [] for c in PAIR_COLUMNS}
    for source, table in _tables(path, split, required, "pku_saferlhf"):
        for i, (prompt, r0, r1, pick) in enumerate(zip(*(table[c] for c in required), strict=True)):
            if _full(rows, max_rows):
                break
            better = _binary(pick)
            if better is None:
                raise AlignrunError(
                    f"pku_saferlhf: {source}, data row {i + 1}: {id_column} is {pick!r}, not 0 or 1"
                )
            prompt, r0, r1 = _text(prompt), _text(r0), _text(r1)
            if not (prompt and r0 and r1) or r0 == r1:
                continue
            chosen, rejected = (r0, r1) if better == 0 else (r1, r0)
            _append(rows, prompt, chosen, rejected)
        if _full(rows, max_rows):
            break  # the remaining files are never read
    return _pairs(rows, path, "pku_saferlhf")


# ---------------------------------------------------------------------------------------------------
# Anthropic HH-RLHF
# ---------------------------------------------------------------------------------------------------


def hh_rlhf(
    path: str = "Anthropic/hh-rlhf",
    subset: str | None = "harmless-base",
    split: str = "train",
    history: str = "full",
    max_rows: int | None = None,
) -> Any:
    """Preference pairs from Anthropic's HH-RLHF (Bai et al., 2022).

    Format (https://huggingface.co/datasets/Anthropic/hh-rlhf, ``<subset>/{train,test}.jsonl.gz``):
    ``chosen`` and ``rejected``, each a whole transcript
    ``"\\n\\nHuman: ...\\n\\nAssistant: ...\\n\\nHuman: ...\\n\\nAssistant: <final>"`` that differ only
    in the final Assistant turn. Each transcript is split at its last ``"\\n\\nAssistant:"`` into the
    shared history and the final response.

    Args:
        path: a Hub dataset name, or a local file or folder in the format above. A local folder that
            holds a ``subset`` folder (a copy of the whole Hub repo) is read from that folder.
        subset: on the Hub, the ``data_dir`` (``harmless-base``, ``helpful-base``,
            ``helpful-online``, ``helpful-rejection-sampled``); None reads every subset.
        split: ``train`` or ``test`` (a folder's files are picked by this name; a single file is read whole).
        history: ``"full"``: the prompt is the whole dialogue before the final turn,
            ``"Human: ...\\n\\nAssistant: ...\\n\\nHuman: ..."``; ``"last_turn"``: only the text of the
            last Human message.
        max_rows: keep at most this many pairs, the first in file order (None: all).

    Returns:
        A ``datasets.Dataset`` with columns exactly ``prompt``, ``chosen``, ``rejected``. Rows whose
        chosen and rejected histories differ, that have no Assistant turn, or whose final responses are
        empty or identical are skipped.

    Raises:
        AlignrunError: unknown ``history``; the Hub is unreachable or has no such dataset; a file lacks
            a required column; no pairs are left.
    """
    if history not in ("full", "last_turn"):
        raise AlignrunError(f"hh_rlhf: history must be 'full' or 'last_turn', not '{history}'")
    _check_max_rows(max_rows)
    required = ("chosen", "rejected")
    rows: dict[str, list[str]] = {c: [] for c in PAIR_COLUMNS}
    for _, table in _tables(path, split, required, "hh_rlhf", subdir=subset):
        for chosen_text, rejected_text in zip(table["chosen"], table["rejected"], strict=True):
            if _full(rows, max_rows):
                break
            chosen_split = split_transcript(_text(chosen_text, strip=False))
            rejected_split = split_transcript(_text(rejected_text, strip=False))
            if chosen_split is None or rejected_split is None:
                continue
            (dialogue, chosen), (other, rejected) = chosen_split, rejected_split
            if dialogue != other or not chosen or not rejected or chosen == rejected:
                continue
            prompt = last_human_turn(dialogue) if history == "last_turn" else dialogue
            if prompt:
                _append(rows, prompt, chosen, rejected)
        if _full(rows, max_rows):
            break
    return _pairs(rows, path, "hh_rlhf")


def split_transcript(transcript: str) -> tuple[str, str] | None:
    """Split an HH-RLHF transcript at its last ``"\\n\\nAssistant:"``.

    Returns:
        ``(history, response)``: the dialogue before the final Assistant turn without its leading
        newlines (``"Human: ...\\n\\nAssistant: ...\\n\\nHuman: ..."``) and the final response, both
        stripped; None when the transcript has no Assistant turn.
    """
    at = transcript.rfind(_ASSISTANT)
    if at < 0:
        return None
    return transcript[:at].strip(), transcript[at + len(_ASSISTANT) :].strip()


def last_human_turn(dialogue: str) -> str:
    """The text of the last ``Human:`` message of an HH-RLHF dialogue ("" if it has none)."""
    dialogue = "\n\n" + dialogue.lstrip("\n")
    at = dialogue.rfind(_HUMAN)
    if at < 0:
        return ""
    return dialogue[at + len(_HUMAN) :].split(_ASSISTANT, 1)[0].strip()


# ---------------------------------------------------------------------------------------------------
# ValueBench
# ---------------------------------------------------------------------------------------------------

VALUEBENCH_COLUMNS = ("questionnaire", "item", "value", "agreement", "question")


def valuebench_questionnaire(
    path: str,
    questionnaire: str | list[str] | None = None,
    min_items: int = 1,
) -> dict[str, Value]:
    """Questionnaire values from ValueBench (Ren et al., 2024), for value profiles.

    Format (``data/value_orientation.csv`` in https://github.com/Value4AI/ValueBench): columns
    ``questionnaire`` (e.g. ``PVQ-RR``), ``item`` (the item's id), ``value`` (e.g. ``Self-Direction``),
    ``agreement`` (+1: agreeing expresses the value; -1: agreeing expresses its opposite) and
    ``question`` (the item rephrased as a question to an assistant).

    A value-profile config uses it as a values source, e.g.::

        _target_: alignrun.data.loaders.valuebench_questionnaire
        path: /data/ValueBench/data/value_orientation.csv
        questionnaire: [PVQ-RR]
        min_items: 3

    Args:
        path: the local ``value_orientation.csv`` (ValueBench is not on the Hub).
        questionnaire: keep only items of this questionnaire or these questionnaires (None or []: all).
        min_items: drop values with fewer items than this.

    Returns:
        value name in snake_case (``"Self-Direction"`` -> ``"self_direction"``) -> a :class:`Value`
        whose ``questionnaire`` lists ``{"question", "polarity", "item", "questionnaire"}`` per item (file
        order) and whose ``description`` names the source questionnaire(s). Values keep file order.

    Raises:
        AlignrunError: the file is missing or lacks a column; a row has an agreement other than +1/-1
            or an empty value or question; a requested questionnaire is not in the file; no value is left.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise AlignrunError(
            f"valuebench_questionnaire: no such file '{path}' (ValueBench's data/value_orientation.csv)"
        )
    table = _read_file(file, VALUEBENCH_COLUMNS, "valuebench_questionnaire")
    wanted = [questionnaire] if isinstance(questionnaire, str) else list(questionnaire or [])
    if wanted:
        unknown = sorted(set(wanted) - {str(q) for q in table["questionnaire"]})
        if unknown:
            present = ", ".join(sorted({str(q) for q in table["questionnaire"]}))
            raise AlignrunError(
                f"valuebench_questionnaire: questionnaire(s) {', '.join(unknown)} not in {file} "
                f"(it has: {present})"
            )
    items: dict[str, list[dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    for i, row in enumerate(zip(*(table[c] for c in VALUEBENCH_COLUMNS), strict=True)):
        source, item, label, agreement, question = row
        where = f"{file}, row {i + 2} (the header is row 1)"
        polarity = _polarity(agreement)
        if polarity is None:
            raise AlignrunError(
                f"valuebench_questionnaire: {where}: agreement is {agreement!r}, not +1 or -1"
            )
        label, question = _text(label), _text(question)
        if not label or not question:
            column = "value" if not label else "question"
            raise AlignrunError(f"valuebench_questionnaire: {where}: empty '{column}'")
        if wanted and str(source) not in wanted:
            continue
        name = snake_case(label)
        labels.setdefault(name, label)
        items.setdefault(name, []).append(
            {"question": question, "polarity": polarity, "item": item, "questionnaire": source}
        )
    values = {}
    for name, entries in items.items():
        if len(entries) < min_items:
            continue
        sources = ", ".join(dict.fromkeys(str(e["questionnaire"]) for e in entries))
        description = f"{labels[name]}, as measured by {sources} (ValueBench, {len(entries)} items)."
        values[name] = Value(name=name, description=description, questionnaire=entries)
    if not values:
        kept = f" of questionnaire(s) {', '.join(wanted)}" if wanted else ""
        raise AlignrunError(
            f"valuebench_questionnaire: no value{kept} in {file} has at least {min_items} item(s)"
        )
    return values


def snake_case(name: str) -> str:
    """``"Self-Direction"`` -> ``"self_direction"``, ``"NeedForCognition"`` -> ``"need_for_cognition"``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


# ---------------------------------------------------------------------------------------------------
# Reading local files and the Hub
# ---------------------------------------------------------------------------------------------------


def _tables(
    path: str, split: str, required: Sequence[str], loader: str, subdir: str | None = None
) -> Iterable[tuple[str, dict[str, list[Any]]]]:
    """Yield ``(source, {column: values})`` for every file of ``path`` (or the Hub dataset)."""
    local = Path(path).expanduser()
    if local.exists():
        for file in _local_files(local, split, subdir, loader):
            yield str(file), _read_file(file, required, loader)
        return
    if _looks_local(path):
        raise AlignrunError(f"{loader}: no such file or folder '{path}'")
    table = _load_hub(path, split, subdir, loader)
    yield f"{path} (Hub)", _columns(table, required, f"{path} (Hub, split {split})", loader)


def _looks_local(path: str) -> bool:
    """A path, not a Hub name ``owner/name``: absolute, relative with dots, or with a data-file suffix."""
    return (
        os.path.isabs(path)
        or path.startswith((".", "~"))
        or path.count("/") > 1
        or _suffix(Path(path)) is not None
    )


def _suffix(file: Path) -> str | None:
    """The data-file suffix of ``file`` (``.jsonl.gz`` before ``.gz``), or None if unsupported."""
    name = file.name.lower()
    return next((s for s in sorted(_BUILDERS, key=len, reverse=True) if name.endswith(s)), None)


def _local_files(root: Path, split: str, subdir: str | None, loader: str) -> list[Path]:
    """The data files of a local file or folder that belong to ``split``.

    Split names are found by ``datasets``' own rules (``train.jsonl``, ``data/test-00000-of-00001.parquet``,
    ``dev`` = ``validation``, ``eval`` = ``test``; hidden files skipped); a folder whose file names
    carry no split is one split, whichever is asked for.
    """
    if root.is_file():
        if _suffix(root) is None:
            raise AlignrunError(f"{loader}: cannot read '{root}': use one of {', '.join(_BUILDERS)}")
        return [root]
    if subdir and (root / subdir).is_dir():
        root = root / subdir
    from datasets.data_files import SPLIT_KEYWORDS, DataFilesDict, get_data_patterns
    from datasets.exceptions import DataFilesNotFoundError

    try:
        patterns = get_data_patterns(str(root))
        resolved = DataFilesDict.from_patterns(patterns, base_path=str(root))
    except (FileNotFoundError, DataFilesNotFoundError):
        resolved = DataFilesDict()
    files = {str(s): sorted(Path(f) for f in fs if _suffix(Path(f))) for s, fs in resolved.items()}
    files = {s: fs for s, fs in files.items() if fs}
    if not files:
        raise AlignrunError(f"{loader}: no data files ({', '.join(_BUILDERS)}) in folder '{root}'")
    if dict(patterns) == {"train": ["**"]}:  # no split names: the folder is one split
        return files["train"]
    canonical = next((str(s) for s, words in SPLIT_KEYWORDS.items() if split.lower() in words), split.lower())
    if canonical not in files:
        raise AlignrunError(
            f"{loader}: no '{split}' files in folder '{root}' (it has splits: {', '.join(sorted(files))})"
        )
    return files[canonical]


def _read_file(file: Path, required: Sequence[str], loader: str) -> dict[str, list[Any]]:
    """The ``required`` columns of one local file, read with ``datasets`` by its suffix."""
    from datasets import load_dataset

    builder = _BUILDERS[_suffix(file) or ""]
    try:
        with _quiet():
            table = load_dataset(builder, data_files=str(file), split="train")
            columns = _columns(table, required, str(file), loader)
    except AlignrunError:
        raise
    except Exception as err:  # malformed JSON, unreadable parquet, text not in UTF-8: a bad file, not a bug
        raise AlignrunError(f"{loader}: cannot read '{file}' as {builder}: {_innermost(err)}") from err
    return columns


@contextmanager
def _quiet() -> Iterator[None]:
    """No "Generating train split" bars for a local file: reading one takes a moment, and an error
    after them would not be the one line a user reads."""
    from datasets.utils import logging as ds_logging

    shown, level = ds_logging.is_progress_bar_enabled(), ds_logging.get_verbosity()
    ds_logging.disable_progress_bar()
    ds_logging.set_verbosity(ds_logging.CRITICAL)  # its "Failed to load JSON" line: the error says it
    try:
        yield
    finally:
        ds_logging.set_verbosity(level)
        if shown:
            ds_logging.enable_progress_bar()


def _columns(table: Any, required: Sequence[str], source: str, loader: str) -> dict[str, list[Any]]:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise AlignrunError(
            f"{loader}: {source} lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(table.column_names)}; expected {FORMATS.get(loader, ', '.join(required))})"
        )
    # read here, not lazily where the rows are used: text that does not decode fails inside the reader
    return dict(table.select_columns(list(required)).to_dict())


def _load_hub(name: str, split: str, data_dir: str | None, loader: str) -> Any:
    """``datasets.load_dataset(name, data_dir=..., split=...)``, any failure turned into an AlignrunError."""
    from datasets import load_dataset
    from datasets.exceptions import DatasetNotFoundError

    try:
        return load_dataset(name, data_dir=data_dir or None, split=split)
    except Exception as err:
        if isinstance(err, ConnectionError):  # also what HF_HUB_OFFLINE=1 raises
            reason = "the Hugging Face Hub cannot be reached (offline?)"
        elif isinstance(err, (DatasetNotFoundError, FileNotFoundError)):
            reason = "not found on the Hugging Face Hub (or gated)"
        else:
            reason = "loading it from the Hugging Face Hub failed"
        raise AlignrunError(
            f"{loader}: cannot load '{name}': {reason}, and there is no local file or folder of that name "
            f"[{type(err).__name__}: {_first_line(err)}]. Download it where the Hub is reachable "
            f"(hf download {name} --repo-type dataset --local-dir DIR) "
            "and pass the local path: path=DIR (data.sources.<value>.path=DIR on the command line)"
        ) from err


def _innermost(err: BaseException) -> str:
    """The first line of what went wrong at the bottom (``datasets`` wraps a JSON parse error in
    "An error occurred while generating the dataset")."""
    from alignrun.errors import causes

    *_, root = causes(err)
    return f"{type(root).__name__}: {_first_line(root)}" if root is not err else _first_line(err)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""


# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------


def _check_max_rows(max_rows: int | None) -> None:
    if max_rows is not None and max_rows < 1:
        raise AlignrunError(f"max_rows must be at least 1 or null, not {max_rows}")


def _text(value: Any, strip: bool = True) -> str:
    """A cell as text: None (a missing CSV cell, a JSON null) becomes ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip() if strip else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _binary(value: Any) -> int | None:
    """0 or 1 from an int, bool, float or string cell; None for anything else."""
    if isinstance(value, bool):
        return int(value)
    number = None if value is None else _number(value)
    return int(number) if number in (0.0, 1.0) else None


def _polarity(value: Any) -> int | None:
    """+1 or -1 from an int, float or string cell (``"+1"``); None for anything else."""
    number = None if value is None else _number(value)
    return int(number) if number in (1.0, -1.0) else None


def _full(rows: dict[str, list[str]], max_rows: int | None) -> bool:
    return max_rows is not None and len(rows["prompt"]) >= max_rows


def _append(rows: dict[str, list[str]], prompt: str, chosen: str, rejected: str) -> None:
    rows["prompt"].append(prompt)
    rows["chosen"].append(chosen)
    rows["rejected"].append(rejected)


def _pairs(rows: dict[str, list[str]], path: str, loader: str) -> Any:
    """The collected pairs as a ``datasets.Dataset``; an AlignrunError if there are none."""
    import datasets

    if not rows["prompt"]:
        raise AlignrunError(
            f"{loader}: no usable preference pairs in '{path}' after filtering (expected {FORMATS[loader]})"
        )
    features = datasets.Features({c: datasets.Value("string") for c in PAIR_COLUMNS})
    return datasets.Dataset.from_dict(rows, features=features)
