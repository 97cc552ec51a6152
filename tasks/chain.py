"""`chain`: long worked solutions, one short step per line — where the unit of credit can matter.

A problem starts from a number and applies `min_steps`–`max_steps` operations (add, subtract,
double, halve); the worked solution writes one equation per step (`17+6=23`) and ends in
`#### <answer>`, checked with the math scorer. Responses run to ~60–100 tokens under the embedded
tokenizer (digits are single tokens), against ~19 for `arith`, so a token, a block of K, a line
and the whole response are four different units.

The task knows every right intermediate value, so each sample's *first wrong step* can be found:
the first line whose result differs from the right running value (or that is missing or
malformed). `first_wrong_step` gives its index and `step_spans` each line's characters, so credit
assignment can be inspected: where a response went wrong, and which tokens an algorithm's update
pushed down (`grainbench diagnose`). Splits are disjoint by a hash of the prompt.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import ClassVar

from tasks import register
from tasks.base import HashSplit, Problem, Score, problem_id
from tasks.math.answer import MATH_SCORER, extract_answer, is_equiv, is_equiv_many

OPERATIONS = {  # word in the prompt → f(value, operand or None) = (left side of the equation, result)
    "add": lambda v, n: (f"{v}+{n}", v + n),
    "subtract": lambda v, n: (f"{v}-{n}", v - n),
    "double": lambda v, _: (f"{v}*2", 2 * v),
    "halve": lambda v, _: (f"{v}/2", v // 2),
}
STEP_LINE = re.compile(r"^\s*(-?\d+)\s*([-+*/])\s*(\d+)\s*=\s*(-?\d+)\s*$")


@register("chain")
@dataclass
class Chain(HashSplit):
    """Start from a number, apply 6–10 operations, one equation per line, answer as `#### n`."""

    min_steps: int = 6
    max_steps: int = 10
    max_value: int = 99  # every intermediate value stays in [0, max_value]
    max_operand: int = 9
    eval_size: int = 200
    eval_fraction: float = 0.2
    validation_fraction: float = 0.1

    version: ClassVar[str] = "1"
    scorer: ClassVar[str] = MATH_SCORER
    same_answers = staticmethod(is_equiv_many)

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps or self.max_operand < 1 or self.max_value < 2 * self.max_operand:
            raise ValueError("chain: need 1 <= min_steps <= max_steps, max_operand >= 1, max_value >= 2*max_operand")
        if self.eval_size < 1:
            raise ValueError("chain: eval_size must be >= 1")
        self.check_split_fractions()

    def _operation(self, value: int, rng: random.Random) -> tuple[str, int | None]:
        choices = [("add", rng.randint(1, min(self.max_operand, self.max_value - value)))] if value < self.max_value else []
        if value > 0:
            choices.append(("subtract", rng.randint(1, min(self.max_operand, value))))
        if 0 < value <= self.max_value // 2:
            choices.append(("double", None))
        if value >= 2 and value % 2 == 0:
            choices.append(("halve", None))
        return rng.choice(choices)

    def _generate(self, rng: random.Random) -> tuple[Problem, str]:
        start = value = rng.randint(1, self.max_value)
        words, lines = [], []
        for _ in range(rng.randint(self.min_steps, self.max_steps)):
            op, n = self._operation(value, rng)
            words.append(f"{op} {n}" if n is not None else op)
            left, value = OPERATIONS[op](value, n)
            lines.append(f"{left}={value}")
        prompt = f"Start at {start}, then {', '.join(words)}. Result?\n"
        solution = "\n".join(lines) + f"\n#### {value}"
        return Problem(id=problem_id(prompt), prompt=prompt, answer=str(value)), solution

    @staticmethod
    def right_values(problem: Problem) -> list[int]:
        """The right running value after each step, read back from the prompt."""
        match = re.match(r"Start at (\d+), then (.*)\. Result\?", problem.prompt)
        if match is None:
            raise ValueError(f"not a chain prompt: {problem.prompt!r}")
        value, values = int(match.group(1)), []
        for phrase in match.group(2).split(", "):
            op, _, n = phrase.partition(" ")
            value = OPERATIONS[op](value, int(n) if n else None)[1]
            values.append(value)
        return values

    def first_wrong_step(self, problem: Problem, completion: str) -> int | None:
        """Index of the first step line whose result is not the right running value (a missing or
        malformed line counts as wrong); None when every step is right."""
        lines = [line for line in completion.split("\n") if line.strip() and not line.lstrip().startswith("####")]
        for i, right in enumerate(self.right_values(problem)):
            if i >= len(lines):
                return i
            match = STEP_LINE.match(lines[i])
            if match is None or int(match.group(4)) != right:
                return i
        return None

    @staticmethod
    def step_spans(completion: str) -> list[tuple[int, int]]:
        """Character span (start, end) of each non-empty line: the caller maps a step to its tokens."""
        spans, offset = [], 0
        for line in completion.split("\n"):
            if line.strip():
                spans.append((offset, offset + len(line)))
            offset += len(line) + 1
        return spans

    def score(self, problem: Problem, completion: str) -> Score:
        pred = extract_answer(completion)
        correct = pred is not None and is_equiv(pred, problem.answer)
        return Score(reward=float(correct), correct=correct, answer=pred)
