"""Where the math benchmarks come from: a local JSONL file or folder, else the Hugging Face hub.

Local files are read with the standard library (one JSON object per line); the hub goes through
`datasets` (`pip install grainbench[hub]`), imported only when needed, so offline users never
pay for it. Each dataset is described once here: its hub id, splits and how to read a record.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tasks.math.answer import last_boxed

DATA_ENV = "GRAINBENCH_DATA"  # a folder laid out as <dataset>/<split>.jsonl


@dataclass(frozen=True)
class Record:
    id: str
    question: str
    answer: str  # the gold final answer
    solution: str | None  # a worked solution (for few-shot examples), when the data has one


@dataclass(frozen=True)
class DatasetSpec:
    hub: str | None
    hub_config: str | None
    splits: dict[str, str]  # our split name -> hub split name
    read: Callable[[dict, int], Record]


def _gsm8k(row: dict, i: int) -> Record:
    worked = re.sub(r"<<[^>]*>>", "", row["answer"])  # calculator annotations are not part of the text
    return Record(f"gsm8k-{i}", row["question"], row["answer"].split("####")[-1].strip(), worked)


def _math(row: dict, i: int) -> Record:
    answer = row.get("answer")
    if answer is None:
        answer = last_boxed(row["solution"])
    rid = row.get("unique_id") or row.get("idx") or i
    return Record(str(rid), row["problem"], str(answer), row.get("solution"))


def _aime(row: dict, i: int) -> Record:
    return Record(f"aime24-{row.get('id', i)}", row["problem"], str(row["answer"]), row.get("solution"))


DATASETS: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec("openai/gsm8k", "main", {"train": "train", "test": "test"}, _gsm8k),
    "math500": DatasetSpec("HuggingFaceH4/MATH-500", None, {"test": "test"}, _math),
    # MATH's test set minus MATH-500 (PRM800K's training addition); not published as one hub dataset
    "math4500": DatasetSpec(None, None, {"train": "train"}, _math),
    "aime24": DatasetSpec("HuggingFaceH4/aime_2024", None, {"test": "train"}, _aime),
}


def load_records(name: str, split: str, path: str | None = None, hub: str | None = None) -> list[Record]:
    """Records of `name`/`split` from `path` (a .jsonl file or a folder holding `<split>.jsonl`),
    else from `$GRAINBENCH_DATA/<name>/`, else from the hub. Errors say what to set."""
    spec = DATASETS[name]
    if split not in spec.splits:
        raise ValueError(f"{name} has no split {split!r}; it has {', '.join(spec.splits)}")
    if path is None and os.environ.get(DATA_ENV):
        candidate = Path(os.environ[DATA_ENV]) / name
        path = str(candidate) if candidate.is_dir() else None
    if path is not None:
        rows = _read_jsonl(_split_file(Path(path), split))
    else:
        rows = _from_hub(name, spec, split, hub or spec.hub)
    try:
        return [spec.read(row, i) for i, row in enumerate(rows)]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{name}: a record lacks the field {e}; is {path or hub} really {name}?") from None


def _split_file(path: Path, split: str) -> Path:
    if path.is_dir():
        path = path / f"{split}.jsonl"
    if not path.is_file():
        raise ValueError(f"data file {path} not found; set the task's `path` to a .jsonl file or a folder with {split}.jsonl")
    return path


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n} is not valid JSON ({e.msg}); expected one JSON object per line") from None
    return rows


def _from_hub(name: str, spec: DatasetSpec, split: str, hub: str | None) -> list[dict]:
    hint = f"set the task's `path` to local JSONL data, or ${DATA_ENV} to a folder with {name}/{split}.jsonl"
    if hub is None:
        raise ValueError(f"{name} has no hub copy; {hint}")
    try:
        import datasets
    except ImportError:
        raise ValueError(f"loading {hub} needs `datasets` (pip install 'grainbench[hub]'); or {hint}") from None
    try:
        return list(datasets.load_dataset(hub, spec.hub_config, split=spec.splits[split]))
    except Exception as e:  # offline, gated, renamed: all mean the same to the user
        raise ValueError(f"could not load {hub} from the hub ({type(e).__name__}); {hint}") from None
