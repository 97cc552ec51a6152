"""`synth_code`: seeded function-synthesis problems for the embedded model, scored in the sandbox.

A problem describes a one-line integer function in words with two examples ("Write f(x) that
adds 3, then doubles. f(1) == 8"); the demonstration is the function; the tests are asserts on
held-out inputs. Scoring goes through `check_solution`, the same path as HumanEval and MBPP.
Train and eval problems are split by a hash of the prompt, as in `arith`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import ClassVar

from tasks import register
from tasks.base import Problem, Score, Scoring
from tasks.code.checking import check_solution, scores_in_parallel
from tasks.code.extract import extract_program

# (words, expression in x with k) — each a step of the function
STEPS = [
    ("adds {k}", "{x} + {k}"), ("subtracts {k}", "{x} - {k}"), ("multiplies by {k}", "{x} * {k}"),
    ("takes the remainder mod {k}", "{x} % {k}"), ("takes the maximum with {k}", "max({x}, {k})"),
    ("takes the minimum with {k}", "min({x}, {k})"), ("squares", "{x} * {x}"), ("negates", "-{x}"),
]


@register("synth_code")
@dataclass
class SynthCode(Scoring):
    """Seeded one-line integer functions from words and examples; sandboxed asserts."""

    steps: int = 2
    max_k: int = 9
    tests: int = 5
    eval_size: int = 100
    eval_fraction: float = 0.2
    timeout_s: float = 3.0
    workers: int = 0

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if min(self.steps, self.max_k, self.tests, self.eval_size) < 1 or self.timeout_s <= 0:
            raise ValueError("synth_code: steps, max_k, tests, eval_size must be >= 1 and timeout_s > 0")

    def _generate(self, rng: random.Random) -> tuple[Problem, str]:
        words, expr = [], "x"
        for _ in range(self.steps):
            phrase, template = rng.choice(STEPS)
            k = rng.randint(2, self.max_k)
            words.append(phrase.format(k=k))
            expr = template.format(x=expr if expr == "x" else f"({expr})", k=k)
        fn = eval(f"lambda x: {expr}")  # our own expression, built above from fixed templates
        shown = rng.sample(range(-5, 10), 2)
        hidden = rng.sample(range(-20, 30), self.tests)
        prompt = (f"Write f(x) that {', then '.join(words)}.\n"
                  + "".join(f"f({x}) == {fn(x)}\n" for x in shown))
        tests = [f"assert f({x}) == {fn(x)}" for x in hidden]
        pid = hashlib.sha1(prompt.encode()).hexdigest()[:12]
        return Problem(id=pid, prompt=prompt, answer="\n".join(tests)), f"def f(x):\n    return {expr}\n"

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
        rng, seen, out = random.Random(f"synth_code-eval-{self.version}"), set(), []
        while len(out) < size:
            problem, _ = self._sample(1, rng, want_eval=True)[0]
            if problem.id not in seen:
                seen.add(problem.id)
                out.append(problem)
        return out

    def check(self, problem: Problem, completion: str):
        return check_solution(extract_program(completion, entry_point="f"), "f", problem.answer.splitlines(), self.timeout_s)

    def score(self, problem: Problem, completion: str) -> Score:
        return self.score_many([problem], [completion])[0]

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return scores_in_parallel(self.check, problems, completions, self.workers)
