"""Code benchmarks as tasks: HumanEval, HumanEval+, MBPP, MBPP+ — scored by `check_solution`.

Time limits do not depend on the machine's speed: each problem's limit is `timeout_factor` times
its reference solution's measured runtime here, at least `timeout_floor_s` (evalplus's rule), so
a slow machine does not turn right answers into timeouts. For the evalplus sets the expected
outputs are the reference solution's, computed in the sandbox once per problem.
"""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass, field
from typing import ClassVar

from tasks import register
from tasks.base import Problem, Score, Scoring, first, held_out_for_validation
from tasks.code import data
from tasks.code.checking import CODE_SCORER, check_solution, scores_in_parallel
from tasks.code.extract import extract_program
from tasks.code.sandbox import Program, Verdict, run
from tasks.data import load_rows

REFERENCE_OUTPUT_CAP = 1 << 30  # Mbpp/255's plus cases take 0.8 GB; HumanEval/15's strings tens of MB
CHAT_CONTINUATION = "Complete the following Python function. Reply with the whole function in a ```python block.\n\n```python\n{prompt}```"
CHAT_MBPP = "{prompt}\nReply with the Python function in a ```python block."

# run in the sandbox too: the reference is trusted, but its inputs may still hang or hog memory
OUTPUTS_PROGRAM = r'''
import copy, os, pickle, sys
with os.fdopen(int(sys.argv[1]), "rb") as feed:
    entry_point = feed.read().decode()
with open("data.pkl", "rb") as f:
    inputs = pickle.load(f)
scope = {"__name__": "reference"}
with open("reference.py", encoding="utf-8") as f:
    exec(compile(f.read(), "reference.py", "exec"), scope)
# one pickled (args, expected) per case, so a checker can stop reading at the first failing one
with os.fdopen(int(sys.argv[2]), "wb") as report:
    for args in inputs:
        out = scope[entry_point](*copy.deepcopy(args))
        # a regex match object (Mbpp/737's reference returns one) cannot be pickled: compare its truth value
        report.write(pickle.dumps((args, bool(out) if type(out).__name__ == "Match" else out)))
'''


@dataclass
class CodeTask(Scoring):
    path: str | None = None  # a .jsonl file or a folder holding the split's file
    hub: str | None = None
    train_split: str | None = None
    eval_split: str | None = None
    eval_size: int | None = None
    template: str = "auto"  # auto: chat template (instruction + code block) when the tokenizer has one
    timeout_factor: float = 4.0
    timeout_floor_s: float = 3.0
    workers: int = 0  # parallel sandboxes when scoring a batch (0: one per CPU core)

    version: ClassVar[str] = "2"
    scorer: ClassVar[str] = CODE_SCORER
    dataset: ClassVar[str]
    default_train: ClassVar[str | None] = None
    default_eval: ClassVar[str | None] = None
    validation_split: ClassVar[str | None] = None  # an official one; else a hashed share of the train split
    _records: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _limits: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _cases: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _verdicts: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # see scores_in_parallel

    def __post_init__(self) -> None:
        if self.template not in ("auto", "plain"):
            raise ValueError(f"{self.name}: template must be 'auto' or 'plain', not {self.template!r}")
        if self.timeout_factor <= 0 or self.timeout_floor_s <= 0 or self.workers < 0:
            raise ValueError(f"{self.name}: timeout_factor and timeout_floor_s must be > 0, workers >= 0")
        self.train_split = self.train_split or self.default_train
        self.eval_split = self.eval_split or self.default_eval
        for split in (self.train_split, self.eval_split):
            if split is not None:
                self.records(split)

    # --- data ---------------------------------------------------------------------------------
    def read(self, row: dict) -> data.CodeRecord:
        raise NotImplementedError

    def rows(self, split: str) -> list[dict]:
        return load_rows(self.dataset, data.SOURCES[self.dataset], split, self.path, self.hub)

    def records(self, split: str) -> list[data.CodeRecord]:
        if split not in self._records:
            self._records[split] = [self.read(row) for row in self.rows(split)]
            self._by_id = {r.id: r for recs in self._records.values() for r in recs}
        return self._records[split]

    def record(self, problem_id: str) -> data.CodeRecord:
        return self._by_id[problem_id]

    # --- prompts -----------------------------------------------------------------------------
    def _problem(self, record: data.CodeRecord) -> Problem:
        chat = self.template == "auto"
        if chat:
            prompt = (CHAT_CONTINUATION if record.continuation else CHAT_MBPP).format(prompt=record.prompt)
        else:
            prompt = record.prompt if record.continuation else f"{record.prompt}```python\n"
        return Problem(id=record.id, prompt=prompt, answer=record.entry_point, chat=chat)

    def _train_records(self, validation: bool = False) -> list[data.CodeRecord]:
        if self.train_split is None:
            raise ValueError(f"{self.name} has no train split to train or tune on")
        if self.validation_split is not None:
            return self.records(self.validation_split if validation else self.train_split)
        return [r for r in self.records(self.train_split) if held_out_for_validation(r.id) == validation]

    def train_problems(self, count: int, rng: random.Random) -> list[Problem]:
        records = self._train_records()
        return [self._problem(rng.choice(records)) for _ in range(count)]

    def eval_problems(self, limit: int | None = None) -> list[Problem]:
        if self.eval_split is None:
            raise ValueError(f"{self.name} has no eval split")
        return [self._problem(r) for r in first(self.records(self.eval_split), limit, self.eval_size)]

    def validation_problems(self, limit: int | None = None) -> list[Problem]:
        return [self._problem(r) for r in first(self._train_records(validation=True), limit, self.eval_size)]

    # --- scoring -----------------------------------------------------------------------------
    def program(self, record: data.CodeRecord, completion: str) -> str:
        return extract_program(completion, record.prompt, record.entry_point, record.continuation)

    def verify(self, record: data.CodeRecord, program: str, timeout_s: float | None = None) -> Verdict:
        """Run `program` against the record's tests (the one place a code task decides a pass)."""
        timeout = timeout_s or self.time_limit(record)
        if record.inputs:
            tests = [f"for _args, _exp in _gb_cases:\n"
                     f"    assert _gb_close({record.entry_point}(*_args), _exp, {record.atol!r}), _args"]
            return check_solution(program, record.entry_point, tests, timeout, cases=self.cases(record))
        return check_solution(program, record.entry_point, list(record.tests), timeout, setup=record.setup)

    def time_limit(self, record: data.CodeRecord) -> float:
        """`timeout_factor` × the reference's runtime here, at least `timeout_floor_s` (measured once)."""
        if record.id not in self._limits:
            if record.inputs:
                self.cases(record)
            else:
                verdict = check_solution(record.reference, record.entry_point, list(record.tests), 60.0, setup=record.setup)
                self._limits[record.id] = verdict.duration_s
        return max(self.timeout_floor_s, self.timeout_factor * self._limits[record.id])

    def cases(self, record: data.CodeRecord) -> bytes:
        """The record's inputs with the reference solution's outputs (evalplus's ground truth), as the
        stream of pickled (args, expected) pairs the checker reads one at a time."""
        if record.id not in self._cases:
            program = Program({"main.py": OUTPUTS_PROGRAM, "reference.py": record.reference,
                               "data.pkl": pickle.dumps(list(record.inputs))}, feed=record.entry_point.encode(),
                              precompiled=("main.py",))
            verdict, report = run(program, 120.0, report_cap=REFERENCE_OUTPUT_CAP)
            if verdict.status != "pass" or len(report) >= REFERENCE_OUTPUT_CAP:
                why = verdict.detail if verdict.status != "pass" else f"over {REFERENCE_OUTPUT_CAP} bytes of outputs"
                raise RuntimeError(f"{record.id}: the reference solution failed on its own inputs ({why}): "
                                   f"{verdict.stderr[-500:]}")
            self._cases[record.id] = report
            self._limits[record.id] = verdict.duration_s
        return self._cases[record.id]

    def score(self, problem: Problem, completion: str) -> Score:
        return self.score_many([problem], [completion])[0]

    def score_many(self, problems: list[Problem], completions: list[str]) -> list[Score]:
        return scores_in_parallel(self.check, problems, completions, self.workers, self._verdicts)

    def check(self, problem: Problem, completion: str) -> Verdict:
        record = self.record(problem.id)
        return self.verify(record, self.program(record, completion))


@register("humaneval")
class HumanEval(CodeTask):
    """OpenAI HumanEval (openai/openai_humaneval): 164 function completions with unit tests."""

    dataset, default_eval = "humaneval", "test"

    def read(self, row):
        return data.humaneval(row)


@register("humaneval_plus")
class HumanEvalPlus(CodeTask):
    """HumanEval+ (evalplus): HumanEval's problems, base + plus inputs against the reference's outputs."""

    dataset, default_eval = "humaneval_plus", "test"

    def read(self, row):
        return data.humaneval(row, plus=True)


@register("mbpp")
@dataclass
class MBPP(CodeTask):
    """MBPP (google-research): train 601–974, test 11–510; `sanitized: true` for the 427 sanitized."""

    sanitized: bool = False
    dataset, default_train, default_eval = "mbpp", "train", "test"
    validation_split = "validation"

    def rows(self, split):
        if split not in data.MBPP_SPLITS:
            raise ValueError(f"mbpp has no split {split!r}; it has {', '.join(data.MBPP_SPLITS)}")
        variant = "sanitized" if self.sanitized else "full"
        rows = load_rows("mbpp", data.SOURCES["mbpp" if variant == "full" else "mbpp_sanitized"], variant, self.path, self.hub)
        keep = data.MBPP_SPLITS[split]
        return [r for r in rows if r["task_id"] in keep]

    def read(self, row):
        return data.mbpp(row)


@register("mbpp_plus")
class MBPPPlus(CodeTask):
    """MBPP+ (evalplus): 378 MBPP problems, base + plus inputs against the reference's outputs."""

    dataset, default_eval = "mbpp_plus", "test"

    def read(self, row):
        return data.mbpp_plus(row)
