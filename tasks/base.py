"""What every task provides: problems for training and evaluation, and a scorer."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str
    answer: str  # the gold answer (or a test spec for code tasks)
    chat: bool = False  # the prompt is a user message for the tokenizer's chat template, when it has one


@dataclass(frozen=True)
class Score:
    reward: float  # what RL optimises
    correct: bool  # what evaluation counts (pass@k)
    answer: str | None  # the extracted prediction, kept for maj@k and for reading records


class Task(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]  # bump when prompts or scoring change; printed in every leaderboard row
    scorer: ClassVar[str]  # the checker and its version (shared by tasks), printed in every leaderboard row

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]: ...

    def eval_problems(self, limit: int | None = None) -> list[Problem]: ...

    def validation_problems(self, limit: int | None = None) -> list[Problem]:
        """Held out of the train split and disjoint from the eval split: where hyper-parameters are
        chosen, so the eval split is never used to tune."""

    def score(self, problem: Problem, completion: str) -> Score: ...

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]: ...


class Scoring:
    """The default `score_many`, one `score` after another; tasks whose checks are slow (code run
    in a sandbox) override it to spread the work over cores."""

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return [self.score(p, c) for p, c in zip(problems, completions)]


VALIDATION_FRACTION = 0.1  # share of a train split held out for tuning


def held_out_for_validation(problem_id: str, fraction: float = VALIDATION_FRACTION) -> bool:
    """Whether a train-split problem belongs to the validation split, by a hash of its id (stable)."""
    return int(hashlib.sha1(problem_id.encode()).hexdigest(), 16) % 1000 < fraction * 1000


def first(items: list, *sizes: int | None) -> list:
    """The first min(sizes) items (None: no limit)."""
    return items[: min([len(items), *(s for s in sizes if s is not None)])]


class HashSplit(Scoring):
    """Train/validation/eval splits of a procedurally generated task, disjoint by a hash of each prompt.

    A subclass supplies `_generate(rng) -> (problem, demonstration)` (ids from `problem_id`) and
    the fields `eval_size`, `eval_fraction` and `validation_fraction`; every split stays unbounded,
    and the eval and validation sets are fixed.
    """

    def check_split_fractions(self) -> None:
        """For a subclass's __post_init__: the eval and validation shares must leave a train split."""
        if not (0 < self.eval_fraction and 0 < self.validation_fraction and self.eval_fraction + self.validation_fraction < 1):
            raise ValueError(f"{self.name}: eval_fraction and validation_fraction must be > 0 and sum to < 1")

    def _split_of(self, problem: Problem) -> str:
        bucket = int(problem.id, 16) % 1000
        if bucket < self.eval_fraction * 1000:
            return "eval"
        return "validation" if bucket < (self.eval_fraction + self.validation_fraction) * 1000 else "train"

    def _sample(self, count: int, rng: random.Random, split: str) -> list[tuple[Problem, str]]:
        out = []
        while len(out) < count:
            problem, solution = self._generate(rng)
            if self._split_of(problem) == split:
                out.append((problem, solution))
        return out

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]:
        return [p for p, _ in self._sample(count, rng, "train")]

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]:
        return [(p.prompt, s) for p, s in self._sample(count, rng, "train")]

    def _fixed(self, split: str, size: int) -> list[Problem]:
        seen, out = set(), []
        rng = random.Random(f"{self.name}-{split}-{self.version}")  # fixed: the set never moves
        while len(out) < size:
            problem, _ = self._sample(1, rng, split)[0]
            if problem.id not in seen:
                seen.add(problem.id)
                out.append(problem)
        return out

    def eval_problems(self, limit: int | None = None) -> list[Problem]:
        return self._fixed("eval", self.eval_size if limit is None else min(limit, self.eval_size))

    def validation_problems(self, limit: int | None = None) -> list[Problem]:
        return self._fixed("validation", self.eval_size if limit is None else min(limit, self.eval_size))


def problem_id(prompt: str) -> str:
    return hashlib.sha1(prompt.encode()).hexdigest()[:12]


class Demonstrating(Protocol):
    """A task that can write worked solutions, for the embedded model's supervised warm start."""

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]: ...
