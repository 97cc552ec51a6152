"""Answer extraction and equivalence for math completions.

Equivalence goes through sympy's exact rationals, so "14", "14.0", "028/2" and "1,4e1" style
variants of the same number agree and floating-point noise never decides a reward. Only numeric
literals are parsed: a completion is model output, and handing arbitrary text to `sympify` lets a
string such as 9**9**9**9 hang the evaluation. Anything that is not a plain number is compared as
normalised text.
"""

from __future__ import annotations

import re

import sympy

_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:/\d+)?"
_HASHES = re.compile(r"####\s*(.+)")
_ANSWER_IS = re.compile(r"answer is[:\s]*\$?(" + _NUMBER + ")", re.IGNORECASE)
_LAST_NUMBER = re.compile(_NUMBER)
_NUMERIC = re.compile(r"^[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?$")


def extract_answer(text: str) -> str | None:
    """The final answer of a completion: after the last `####`, else "the answer is", else the last number."""
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    said = _ANSWER_IS.findall(text)
    if said:
        return said[-1]
    numbers = _LAST_NUMBER.findall(text)
    return numbers[-1] if numbers else None


def normalize(answer: str) -> str:
    s = answer.strip().rstrip(".").strip()
    s = s.replace("$", "").replace(",", "").replace(" ", "")
    return s


def to_rational(answer: str) -> sympy.Rational | None:
    s = normalize(answer)
    if not _NUMERIC.match(s) or len(s) > 100:
        return None
    return sympy.Rational(s)


def is_equiv(pred: str, gold: str) -> bool:
    """True when `pred` and `gold` denote the same answer."""
    p, g = to_rational(pred), to_rational(gold)
    if p is not None and g is not None:
        return p == g
    return normalize(pred) == normalize(gold) and normalize(gold) != ""
