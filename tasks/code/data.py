"""HumanEval(+) and MBPP(+) records from local JSONL (or the hub through `datasets`), as one shape.

Every record becomes a `CodeRecord`: the prompt shown to the model, the entry point, the reference
solution, and how to test a candidate — either assert lines (HumanEval's `check(entry_point)`,
MBPP's setup code and asserts) or, for the evalplus sets, inputs whose expected outputs are the
reference solution's (computed in the sandbox, as evalplus does) compared with `atol`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tasks.data import Source



@dataclass(frozen=True)
class CodeRecord:
    id: str
    prompt: str  # what the model completes or answers
    entry_point: str
    reference: str  # a complete program defining entry_point
    tests: tuple[str, ...] = ()  # assert lines
    setup: str = ""  # setup code the asserts rely on (runs beside the solution, in the candidate's process)
    inputs: tuple = ()  # evalplus: argument lists, compared against the reference's outputs
    atol: float = 0.0
    continuation: bool = False  # the prompt is code the completion continues (HumanEval)
    text: str = ""  # the natural-language description, for instruction prompts


def _inputs(row: dict) -> list:
    """Base then plus inputs; an empty set of plus inputs is stored as {} in some rows."""
    return list(row.get("base_input") or []) + list(row.get("plus_input") or [])


def humaneval(row: dict, plus: bool = False) -> CodeRecord:
    inputs = tuple(_inputs(row)) if plus else ()
    return CodeRecord(
        id=row["task_id"], prompt=row["prompt"], entry_point=row["entry_point"],
        reference=row["prompt"] + row["canonical_solution"],
        tests=() if plus else (row["test"], f"check({row['entry_point']})"),
        inputs=inputs, atol=float(row.get("atol", 0) or 0), continuation=True, text=row["prompt"],
    )


def mbpp(row: dict) -> CodeRecord:
    """MBPP full or sanitized: the entry point is the reference's function that the asserts call."""
    text = row.get("text") or row.get("prompt")
    tests = list(row["test_list"])
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports", []))
    defined = re.findall(r"^def\s+(\w+)\s*\(", row["code"], flags=re.M)
    called = set(re.findall(r"(\w+)\s*\(", "\n".join(tests)))
    entry = next((name for name in defined if name in called), defined[0] if defined else "")
    prompt = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests[:3]) + "\n"
    return CodeRecord(id=f"mbpp-{row['task_id']}", prompt=prompt, entry_point=entry, reference=row["code"],
                      tests=tuple(tests), setup=setup, text=text)


def mbpp_plus(row: dict) -> CodeRecord:
    return CodeRecord(id=row["task_id"], prompt=row["prompt"], entry_point=row["entry_point"],
                      reference=row["canonical_solution"],
                      inputs=tuple(mbpp_plus_inputs(row["task_id"], _inputs(row))), atol=float(row.get("atol", 0) or 0),
                      text=row["prompt"])


SOURCES = {
    "humaneval": Source("openai/openai_humaneval", None, {"test": "test"}, {"test": ("test.jsonl", "humaneval.jsonl", "HumanEval.jsonl")}),
    "humaneval_plus": Source("evalplus/humanevalplus", None, {"test": "test"},
                             {"test": ("test.jsonl", "humaneval_plus.jsonl", "HumanEvalPlus.jsonl")}),
    # MBPP is one file per variant; our splits are task-id ranges of it (MBPP_SPLITS)
    "mbpp": Source("google-research-datasets/mbpp", "full", {"full": "train+test+validation+prompt"}, {"full": ("mbpp.jsonl",)}),
    "mbpp_sanitized": Source("google-research-datasets/mbpp", "sanitized", {"sanitized": "train+test+validation+prompt"},
                             {"sanitized": ("sanitized-mbpp.jsonl",)}),
    "mbpp_plus": Source("evalplus/mbppplus", None, {"test": "test"}, {"test": ("test.jsonl", "mbpp_plus.jsonl", "MbppPlus.jsonl")}),
}

MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


# MBPP+ stores inputs as JSON, which has no tuples, sets or complex numbers; these problems take
# them, so their inputs are rebuilt as evalplus (v0.2.0) does before calling the reference.
def _deep_tuple(x):
    return tuple(_deep_tuple(v) for v in x) if isinstance(x, list) else x


def _each_tuple(args):
    return [tuple(a) for a in args]


def _lists_of_tuples(args):
    return [[tuple(v) for v in a] for a in args]


_MBPP_PLUS_REBUILD = {
    **dict.fromkeys([2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
                     744, 809], _each_tuple),
    **dict.fromkeys([63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780], _lists_of_tuples),
    **dict.fromkeys([75, 413, 444, 753], lambda a: [[tuple(v) for v in a[0]], a[1]]),
    **dict.fromkeys([106, 750], lambda a: [a[0], tuple(a[1])]),
    **dict.fromkeys([250, 405, 446, 617, 720, 763, 808, 307], lambda a: [tuple(a[0]), *a[1:]]),
    **dict.fromkeys([259, 401, 445], lambda a: _each_tuple(_lists_of_tuples(a))),
    **dict.fromkeys([580, 615, 791], _deep_tuple),
    115: lambda a: [[set(v) if isinstance(v, list) and v else {} for v in a[0]]],  # evalplus's {} for an empty one
    124: lambda a: [float(a[0]), complex(a[1])],
    252: lambda a: [complex(a[0])],
    278: lambda a: _each_tuple([[tuple(v) if isinstance(v, list) else v for v in a[0]]]),
    722: lambda a: [{k: tuple(v) for k, v in a[0].items()}, *a[1:]],
}


def mbpp_plus_inputs(task_id: str, inputs: list) -> list:
    rebuild = _MBPP_PLUS_REBUILD.get(int(task_id.split("/")[-1]))
    return [rebuild(args) for args in inputs] if rebuild else inputs
