"""The math benchmarks' records: one `Record` shape for GSM8K, MATH-500, MATH-4500 and AIME-24.

Each dataset is described once here: where it lives (`tasks.data.Source`) and how to read a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from tasks.data import Source, load_rows
from tasks.math.answer import last_boxed


@dataclass(frozen=True)
class Record:
    id: str
    question: str
    answer: str  # the gold final answer
    solution: str | None  # a worked solution (for few-shot examples), when the data has one


@dataclass(frozen=True)
class DatasetSpec:
    source: Source
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


MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")


def minus_math500(math_test: list[dict], math500: list[dict]) -> list[dict]:
    """MATH's test problems that are not in MATH-500 (matched on the stripped problem text, as
    PRM800K split them), in order, each with its position as `idx`."""
    held = {row["problem"].strip() for row in math500}
    return [{**row, "idx": i} for i, row in enumerate(math_test) if row["problem"].strip() not in held]


def _math4500_from_hub(split: str) -> list[dict]:
    """MATH-4500 from the hub: the seven subjects' test splits of EleutherAI/hendrycks_math minus
    HuggingFaceH4/MATH-500."""
    import datasets

    math_test = [row for subject in MATH_SUBJECTS for row in datasets.load_dataset("EleutherAI/hendrycks_math", subject, split=split)]
    return minus_math500(math_test, list(datasets.load_dataset("HuggingFaceH4/MATH-500", split="test")))


DATASETS: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec(Source("openai/gsm8k", "main", {"train": "train", "test": "test"}), _gsm8k),
    "math500": DatasetSpec(Source("HuggingFaceH4/MATH-500", None, {"test": "test"}), _math),
    # MATH's test set minus MATH-500 (PRM800K's training addition); not one hub dataset, so built from two
    "math4500": DatasetSpec(Source(None, None, {"train": "test"}, files={"train": ("train.jsonl",)}, derive=_math4500_from_hub), _math),
    "aime24": DatasetSpec(Source("HuggingFaceH4/aime_2024", None, {"test": "train"}), _aime),
}


def load_records(name: str, split: str, path: str | None = None, hub: str | None = None) -> list[Record]:
    """Records of `name`/`split` (see `tasks.data.load_rows` for where they are looked for)."""
    spec = DATASETS[name]
    rows = load_rows(name, spec.source, split, path, hub)
    try:
        return [spec.read(row, i) for i, row in enumerate(rows)]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{name}: a record lacks the field {e}; is {path or hub} really {name}?") from None
