"""`synth_code`: seeded function-synthesis problems for the embedded model, scored in the sandbox.

A problem describes a one-line integer function in words with two examples ("Write f(x) that
adds 3, then doubles. f(1) == 8"); the demonstration is the function; the tests are asserts on
held-out inputs. Scoring goes through `check_solution`, the same path as HumanEval and MBPP.
Train and eval problems are split by a hash of the prompt, as in `arith`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar

from tasks import register
from tasks.base import HashSplit, Problem, Score, problem_id
from tasks.code.checking import CODE_SCORER, check_solution, scores_in_parallel
from tasks.code.extract import extract_program

# (words, expression in x with k) — each a step of the function
STEPS = [
    ("adds {k}", "{x} + {k}"), ("subtracts {k}", "{x} - {k}"), ("multiplies by {k}", "{x} * {k}"),
    ("takes the remainder mod {k}", "{x} % {k}"), ("takes the maximum with {k}", "max({x}, {k})"),
    ("takes the minimum with {k}", "min({x}, {k})"), ("squares", "{x} * {x}"), ("negates", "-{x}"),
]


@register("synth_code")
@dataclass
class SynthCode(HashSplit):
    """Seeded one-line integer functions from words and examples; sandboxed asserts."""

    steps: int = 2
    max_k: int = 9
    tests: int = 5
    eval_size: int = 100
    eval_fraction: float = 0.2
    validation_fraction: float = 0.1
    timeout_s: float = 3.0
    workers: int = 0
    _verdicts: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # see scores_in_parallel

    version: ClassVar[str] = "2"
    scorer: ClassVar[str] = CODE_SCORER

    def __post_init__(self) -> None:
        if min(self.steps, self.max_k, self.tests, self.eval_size) < 1 or self.timeout_s <= 0:
            raise ValueError("synth_code: steps, max_k, tests, eval_size must be >= 1 and timeout_s > 0")
        self.check_split_fractions()

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
        return Problem(id=problem_id(prompt), prompt=prompt, answer="\n".join(tests)), f"def f(x):\n    return {expr}\n"

    def check(self, problem: Problem, completion: str):
        return check_solution(extract_program(completion, entry_point="f"), "f", problem.answer.splitlines(), self.timeout_s)

    def score(self, problem: Problem, completion: str) -> Score:
        return self.score_many([problem], [completion])[0]

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return scores_in_parallel(self.check, problems, completions, self.workers, self._verdicts)
