"""What every task provides: problems for training and evaluation, and a scorer."""

from __future__ import annotations

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

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]: ...

    def eval_problems(self, limit: int | None = None) -> list[Problem]: ...

    def score(self, problem: Problem, completion: str) -> Score: ...

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]: ...


class Scoring:
    """The default `score_many`, one `score` after another; tasks whose checks are slow (code run
    in a sandbox) override it to spread the work over cores."""

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return [self.score(p, c) for p, c in zip(problems, completions)]


class Demonstrating(Protocol):
    """A task that can write worked solutions, for the embedded model's supervised warm start."""

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]: ...
