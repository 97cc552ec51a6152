"""Math benchmarks as tasks: GSM8K, MATH-500, MATH-4500 and AIME-24, scored by `tasks.math.answer`.

A prompt asks for the final answer in `\\boxed{}`; the scorer also accepts `#### n` and "the
answer is …", so few-shot GSM8K demonstrations (which end in `#### n`) work unchanged. With
`template: auto` the prompt is one user message for the tokenizer's chat template when it has one
(the harness applies it), else plain `Question: … Answer:` text, optionally after few-shot
examples from the dataset's train split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar

from tasks import register
from tasks.base import Problem, Score, Scoring, first, held_out_for_validation
from tasks.math.answer import MATH_SCORER, extract_answer, is_equiv, is_equiv_many
from tasks.math.data import DATASETS, Record, load_records

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
NEXT_QUESTION = "\nQuestion:"  # where a base model starts inventing the next few-shot item


@dataclass
class MathTask(Scoring):
    path: str | None = None  # a .jsonl file, or a folder with <split>.jsonl (e.g. ../shared/data/gsm8k)
    hub: str | None = None  # override the dataset's hub id
    train_split: str | None = None
    eval_split: str | None = None
    eval_size: int | None = None  # evaluate on the first N problems
    few_shot: int = 0
    few_shot_path: str | None = None  # where the examples come from when the task has no train split
    template: str = "auto"  # auto: chat template when the tokenizer has one; plain: always plain text

    version: ClassVar[str] = "2"
    scorer: ClassVar[str] = MATH_SCORER
    same_answers = staticmethod(is_equiv_many)  # maj@k votes over equivalence classes
    dataset: ClassVar[str]
    default_train: ClassVar[str | None] = None
    default_eval: ClassVar[str | None] = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.template not in ("auto", "plain"):
            raise ValueError(f"{self.name}: template must be 'auto' or 'plain', not {self.template!r}")
        if self.few_shot < 0 or (self.eval_size is not None and self.eval_size < 1):
            raise ValueError(f"{self.name}: few_shot must be >= 0 and eval_size >= 1")
        self.train_split = self.train_split or self.default_train
        self.eval_split = self.eval_split or self.default_eval
        for split in (self.train_split, self.eval_split):
            if split is not None:
                self._records(split)  # a wrong path or split fails when the suite is validated

    def _records(self, split: str) -> list[Record]:
        if split not in self._cache:
            self._cache[split] = load_records(self.dataset, split, self.path, self.hub)
        return self._cache[split]

    def _examples(self) -> list[Record]:
        if not self.few_shot:
            return []
        if self.few_shot_path is not None:
            pool = load_records(self.dataset, "train" if "train" in DATASETS[self.dataset].splits else "test", self.few_shot_path)
        elif self.train_split is not None:
            pool = self._records(self.train_split)
        else:
            raise ValueError(f"{self.name} has no train split for few-shot examples; set few_shot_path")
        return [r for r in pool if r.solution][: self.few_shot]

    def _problem(self, record: Record) -> Problem:
        shots = "".join(f"Question: {r.question}\nAnswer: {r.solution.strip()}\n\n" for r in self._examples())
        if self.template == "plain":
            prompt = f"{shots}Question: {record.question}\n{INSTRUCTION}\nAnswer:"
        else:
            prompt = f"{shots}{record.question}\n{INSTRUCTION}"
        return Problem(id=record.id, prompt=prompt, answer=record.answer, chat=self.template == "auto")

    def _train_records(self, validation: bool = False) -> list[Record]:
        """The train split without its validation share (or only that share)."""
        if self.train_split is None:
            raise ValueError(f"{self.name} has no train split; train and tune on gsm8k or math4500")
        return [r for r in self._records(self.train_split) if held_out_for_validation(r.id) == validation]

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]:
        records = self._train_records()
        return [self._problem(rng.choice(records)) for _ in range(count)]

    def demonstrations(self, count: int, rng: random.Random) -> list[tuple[str, str]]:
        """(prompt, worked solution) pairs from the train split, for a supervised warm start; none
        for an eval-only task (its test problems must never be taught)."""
        if self.train_split is None:
            return []
        records = [r for r in self._train_records() if r.solution]
        return [(self._problem(r).prompt, " " + r.solution.strip()) for r in (rng.choice(records) for _ in range(count))]

    def eval_problems(self, limit: int | None = None) -> list[Problem]:
        if self.eval_split is None:
            raise ValueError(f"{self.name} has no eval split; evaluate on gsm8k, math500 or aime24")
        return [self._problem(r) for r in first(self._records(self.eval_split), limit, self.eval_size)]

    def validation_problems(self, limit: int | None = None) -> list[Problem]:
        return [self._problem(r) for r in first(self._train_records(validation=True), limit, self.eval_size)]

    def score(self, problem: Problem, completion: str) -> Score:
        pred = extract_answer(completion.split(NEXT_QUESTION)[0])
        correct = pred is not None and is_equiv(pred, problem.answer)
        return Score(reward=float(correct), correct=correct, answer=pred)


@register("gsm8k")
class GSM8K(MathTask):
    """Grade-school word problems (openai/gsm8k): train 7,473, test 1,319."""

    dataset = "gsm8k"
    default_train, default_eval = "train", "test"


@register("math500")
class MATH500(MathTask):
    """MATH-500, the PRM800K test subset of MATH (HuggingFaceH4/MATH-500): test 500."""

    dataset = "math500"
    default_eval = "test"


@register("math4500")
class MATH4500(MathTask):
    """MATH's other 4,500 test problems, used as a training set disjoint from MATH-500."""

    dataset = "math4500"
    default_train = "train"


@register("aime24")
class AIME24(MathTask):
    """AIME 2024 (HuggingFaceH4/aime_2024): test 30."""

    dataset = "aime24"
    default_eval = "test"
