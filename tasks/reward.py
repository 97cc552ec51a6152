"""A task made from a data file and a TRL-style reward function, for custom tasks without a plugin.

The function is named by dotted path (`package.module:function`) or file path
(`rewards/exact.py:function`) and called as TRL calls reward functions:
`f(prompts=[...], completions=[...], **columns)`, each dataset column passed as a list aligned
with the completions, returning one float per completion (None counts as 0). A completion is
*correct* for pass@k when its reward reaches `correct_at`. Train and eval rows come from
`eval_data` when given, else from a split of `data` by a hash of each prompt (stable across runs).
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.util
import inspect
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tasks.base import VALIDATION_FRACTION, Problem, Score, first, held_out_for_validation, problem_id
from tasks.data import read_jsonl


def load_callable(spec: str) -> Callable:
    """`module:function` or `path/to/file.py:function` → the function; ValueError naming what is wrong."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"reward {spec!r}: file {path} not found")
        module_spec = importlib.util.spec_from_file_location(f"grainbench_reward_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise ValueError(f"reward {spec!r}: cannot import {target!r} ({e}); install it or put it on PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"reward {spec!r}: {target} has no function {attr!r}")
    return fn


def read_rows(path: str) -> list[dict]:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"data file {path} not found; give a .jsonl or .csv file with one row per problem")
    if file.suffix == ".csv":
        with open(file, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if file.suffix in (".jsonl", ".json"):
        return read_jsonl(file)
    raise ValueError(f"data file {path}: expected .jsonl or .csv, not {file.suffix or 'no suffix'}")


@dataclass
class RewardFunctionTask:
    name: str
    reward: str
    data: str
    eval_data: str | None = None
    prompt_column: str = "prompt"
    eval_fraction: float = 0.1
    eval_size: int | None = None
    correct_at: float = 1.0
    chat: bool = False
    _rows: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._fn = load_callable(self.reward)
        rows = read_rows(self.data)
        held_out = read_rows(self.eval_data) if self.eval_data else []
        for path, table in ((self.data, rows), (self.eval_data, held_out)):
            missing = [i for i, r in enumerate(table) if not isinstance(r.get(self.prompt_column), str)]
            if missing:
                raise ValueError(f"{path}: row {missing[0] + 1} has no text column {self.prompt_column!r}; "
                                 "set prompt_column to the column holding the prompt")
        problems = [(self._problem(r), r) for r in rows]
        if held_out:
            self._eval = [self._problem(r) for r in held_out]
            rest = [p for p, _ in problems]
            problems += [(p, r) for p, r in zip(self._eval, held_out)]
        else:
            cut = lambda p: int(p.id, 16) % 1000 < self.eval_fraction * 1000
            rest = [p for p, _ in problems if not cut(p)]
            self._eval = [p for p, _ in problems if cut(p)]
        # the validation split (for tuning) is a hashed share of what is not eval
        self._validation = [p for p in rest if held_out_for_validation(p.id)]
        self._train = [p for p in rest if not held_out_for_validation(p.id)]
        self._rows = {p.id: r for p, r in problems}
        if not self._train or not self._eval:
            raise ValueError(f"{self.data}: {len(self._train)} train and {len(self._eval)} eval rows; "
                             "both splits need rows (add rows, change eval_fraction or give eval_data)")
        digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in (self.data, self.eval_data) if f))
        self.version = f"reward-2-{digest.hexdigest()[:8]}"  # new data → a new version in every row
        self.scorer = self.reward

    def _problem(self, row: dict) -> Problem:
        prompt = row[self.prompt_column]
        return Problem(id=problem_id(prompt), prompt=prompt, answer=str(row.get("answer", row.get("solution", ""))),
                       chat=self.chat)

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]:
        return [rng.choice(self._train) for _ in range(count)]

    def eval_problems(self, limit: int | None = None) -> list[Problem]:
        return first(self._eval, limit, self.eval_size)

    def validation_problems(self, limit: int | None = None) -> list[Problem]:
        if not self._validation:
            raise ValueError(f"{self.data}: no row falls in the validation split ({VALIDATION_FRACTION:.0%} of the "
                             "train rows by a hash of the prompt); add rows to tune on this task")
        return first(self._validation, limit, self.eval_size)

    def score(self, problem: Problem, completion: str) -> Score:
        return self.score_many([problem], [completion])[0]

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        rows = [self._rows[p.id] for p in problems]
        columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != self.prompt_column} if rows else {}
        try:
            rewards = self._fn(prompts=[p.prompt for p in problems], completions=list(completions), **columns)
        except TypeError as e:
            if not _accepts(self._fn, ["prompts", "completions", *columns]):
                raise ValueError(f"reward {self.reward}: must accept prompts=, completions= and **kwargs "
                                 f"(the columns {', '.join(columns)}); got {e}") from None
            raise
        rewards = list(rewards)
        if len(rewards) != len(completions):
            raise ValueError(f"reward {self.reward}: returned {len(rewards)} values for {len(completions)} completions")
        scores = []
        for value, text in zip(rewards, completions):
            r = 0.0 if value is None else float(value)
            if not math.isfinite(r):
                raise ValueError(f"reward {self.reward}: returned {value!r}; rewards must be finite numbers")
            scores.append(Score(reward=r, correct=r >= self.correct_at, answer=text.strip()))
        return scores


def _accepts(fn: Callable, names: list[str]) -> bool:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return True
    return set(names) <= {p.name for p in params}
