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

    def score(self, problem: Problem, completion: str) -> Score: ...

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]: ...


class Scoring:
    """The default `score_many`, one `score` after another; tasks whose checks are slow (code run
    in a sandbox) override it to spread the work over cores."""

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return [self.score(p, c) for p, c in zip(problems, completions)]


class HashSplit(Scoring):
    """Train/eval splits of a procedurally generated task, disjoint by a hash of each prompt.

    A subclass supplies `_generate(rng) -> (problem, demonstration)` (ids from `problem_id`) and
    the fields `eval_size` and `eval_fraction`; both splits stay unbounded and the eval set is fixed.
    """

    def _is_eval(self, problem: Problem) -> bool:
        return int(problem.id, 16) % 1000 < self.eval_fraction * 1000

    def _sample(self, count: int, rng: random.Random, want_eval: bool) -> list[tuple[Problem, str]]:
        out = []
        while len(out) < count:
            problem, solution = self._generate(rng)
            if self._is_eval(problem) == want_eval:
                out.append((problem, solution))
        return out

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]:
        return [p for p, _ in self._sample(count, rng, want_eval=False)]

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]:
        return [(p.prompt, s) for p, s in self._sample(count, rng, want_eval=False)]

    def eval_problems(self, limit: int | None = None) -> list[Problem]:
        size = self.eval_size if limit is None else min(limit, self.eval_size)
        seen, out = set(), []
        rng = random.Random(f"{self.name}-eval-{self.version}")  # fixed: the eval set never moves
        while len(out) < size:
            problem, _ = self._sample(1, rng, want_eval=True)[0]
            if problem.id not in seen:
                seen.add(problem.id)
                out.append(problem)
        return out


def problem_id(prompt: str) -> str:
    return hashlib.sha1(prompt.encode()).hexdigest()[:12]


class Demonstrating(Protocol):
    """A task that can write worked solutions, for the embedded model's supervised warm start."""

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]: ...
