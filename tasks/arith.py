"""`arith`: procedurally generated multi-step arithmetic word problems, no download needed.

A problem starts with a count of items and changes it `steps` times (gets/loses); the worked
solution writes one equation per step and ends in `#### <answer>`. Problems are split into train
and eval by a hash of their text, so the two splits are disjoint by construction while both
remain unbounded. Difficulty (number ranges, steps) is set so that the embedded model after its
warm start solves a fraction of them, leaving room for RL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from tasks import register
from tasks.base import HashSplit, Problem, Score, problem_id
from tasks.math.answer import MATH_SCORER, extract_answer, is_equiv, is_equiv_many

NAMES = ["Ann", "Bob", "Cal", "Dee", "Eve", "Max", "Sam", "Zoe"]
ITEMS = ["pens", "cards", "eggs", "books", "coins", "apples", "shells", "toys"]
GAIN = ["gets {n}", "buys {n}", "finds {n}"]
LOSS = ["loses {n}", "gives {n} away", "sells {n}"]


@register("arith")
@dataclass
class Arith(HashSplit):
    """Generated word problems of a few additions and subtractions, answered as `#### n`: disjoint
    train, validation and eval splits by hash of the problem."""

    steps: int = 2
    max_start: int = 30
    max_operand: int = 20
    eval_size: int = 200
    eval_fraction: float = 0.2  # share of the problem space reserved for eval
    validation_fraction: float = 0.1  # and for validation (tuning)

    version: ClassVar[str] = "3"
    scorer: ClassVar[str] = MATH_SCORER
    same_answers = staticmethod(is_equiv_many)  # maj@k votes over equivalence classes

    def __post_init__(self) -> None:
        if self.steps < 1 or self.max_start < 1 or self.max_operand < 1 or self.eval_size < 1:
            raise ValueError("arith: steps, max_start, max_operand and eval_size must be >= 1")
        self.check_split_fractions()

    def _generate(self, rng: random.Random) -> tuple[Problem, str]:
        name = rng.choice(NAMES)
        item = rng.choice(ITEMS)
        start = value = rng.randint(1, self.max_start)
        phrases, lines = [], []
        for _ in range(self.steps):
            if value > 1 and rng.random() < 0.5:
                n = rng.randint(1, min(value, self.max_operand))
                phrases.append(rng.choice(LOSS).format(n=n))
                lines.append(f"{value}-{n}={value - n}")
                value -= n
            else:
                n = rng.randint(1, self.max_operand)
                phrases.append(rng.choice(GAIN).format(n=n))
                lines.append(f"{value}+{n}={value + n}")
                value += n
        prompt = f"{name} has {start} {item}, {', '.join(phrases)}. How many {item} now?\n"
        solution = "\n".join(lines) + f"\n#### {value}"
        return Problem(id=problem_id(prompt), prompt=prompt, answer=str(value)), solution

    def score(self, problem: Problem, completion: str) -> Score:
        pred = extract_answer(completion)
        correct = pred is not None and is_equiv(pred, problem.answer)
        return Score(reward=float(correct), correct=correct, answer=pred)
