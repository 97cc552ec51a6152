"""Answer extraction and equivalence for math completions: the scorer behind every math number.

Three layers, cheapest first:
1. `extract_answer` finds the final answer in a completion (`\\boxed{}`/`\\fbox{}` with nested
   braces, `#### n`, "the answer is …", else the last number).
2. `normalize` removes what graders agree does not matter (units and `\\text{}`, `\\dfrac`,
   thousands separators, percent, degrees, trailing punctuation, `x =` prefixes, choice-letter
   wrappers). Plain numbers are then compared in-process as exact sympy Rationals: GSM8K-style
   checks never leave the process and never touch a parser.
3. Everything else (LaTeX, expressions, sets, intervals, tuples, matrices) goes to
   `tasks.math.symbolic` in a killable worker process (`tasks.math.bounded`), so a pathological
   expression costs at most the time bound, in any thread, process pool or Ray task.
"""

from __future__ import annotations

MATH_SCORER = "math-answer-1"  # bump when extraction or equivalence changes what counts as correct

import re
from functools import lru_cache

import sympy

from tasks.math.bounded import BoundedChecker, default_checker

_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:/\d+)?"
_HASHES = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(r"answer is[:\s]*(.+?)(?:\.\s|\.?\s*$|\n)", re.IGNORECASE)
_LAST_NUMBER = re.compile(_NUMBER)
_BOX = re.compile(r"\\(?:boxed|fbox)\s*")

# plain numbers: optional sign, digits with an optional decimal part and exponent, or a fraction a/b
_NUMERIC = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:(?:,|\{,\}|\\,|\s)\d{3})+(?:\.\d+)?$")
_TEXT = re.compile(r"\\(?:text|textbf|textrm|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_ASSIGNMENT = re.compile(r"^\\?[a-zA-Z]\w*\s*(?:=|\\coloneqq)\s*(?!.*=)")
_CHOICE = re.compile(r"^\(?([A-E])\)?$")
_UNIT_TAIL = re.compile(r"^([-+]?[\d.,/]+)(?:\s+[a-zA-Z]+\.?(?:\^\{?\d\}?)?)+\s*$")  # "18 dollars", "12 cm^2"
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|~|\\q?quad")


def extract_answer(text: str) -> str | None:
    """The final answer of a completion, unnormalised; None when there is none."""
    if _BOX.search(text):  # a box cut off before it closed is no answer, not a cue to guess
        boxed = last_boxed(text)
        return boxed.strip() if boxed is not None else None
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    said = _ANSWER_IS.findall(text)
    if said:
        return _leading_answer(said[-1].strip())
    numbers = _LAST_NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _leading_answer(phrase: str) -> str:
    """From "the answer is …": the math in `$…$`, else a leading number ("42 apples, not 7" → 42)."""
    math = re.match(r"\$([^$]+)\$", phrase)
    if math:
        return math.group(1).strip()
    number = re.match(_NUMBER + r"(?![\w^/(])", phrase)
    return number.group(0) if number else phrase


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}`/`\\fbox{...}` (nested braces), or of `\\boxed 5`."""
    matches = list(_BOX.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    if start >= len(text):
        return None
    if text[start] != "{":
        token = re.match(r"[^\s$]+", text[start:])
        return token.group(0) if token else None
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    return None  # unbalanced: the completion was cut off inside the box


def _unwrap(answer: str) -> str:
    """An answer string may itself carry a marker ("#### 42", "\\boxed{7}", "The answer is 42.")."""
    if "\\boxed" in answer or "\\fbox" in answer:
        return last_boxed(answer) or ""
    hashes = _HASHES.findall(answer)
    if hashes:
        return hashes[-1]
    said = _ANSWER_IS.findall(answer)
    return said[-1] if said else answer


@lru_cache(maxsize=65536)
def normalize(answer: str) -> str:
    """A canonical spelling: equal strings here are equal answers (the converse needs sympy)."""
    s = _unwrap(answer).strip()
    s = s.replace("\u2212", "-").replace("\u00b0", "").replace("\\$", "").replace("$", "")
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s).strip()
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _SPACING.sub(" ", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = s.replace("\\%", "").replace("%", "")
    s = s.rstrip(" .")
    choice = _CHOICE.match(_TEXT.sub(r"\1", s).strip())
    if choice:
        return choice.group(1)
    if re.search(r"\d", s):  # a number followed by \text{units}: the units go
        s = re.sub(r"\s*" + _TEXT.pattern + r"(\^\{?\d\}?)?\s*$", "", s) or s
    whole_text = re.fullmatch(_TEXT.pattern, s)
    if whole_text:
        s = whole_text.group(1).strip()
    s = _ASSIGNMENT.sub("", s).strip()
    units = _UNIT_TAIL.match(s)
    if units:
        s = units.group(1)
    if _THOUSANDS.match(s):
        s = re.sub(r"\{,\}|\\,|,|\s", "", s)
    return re.sub(r"\s+", " ", s).strip()


def to_rational(answer: str) -> sympy.Rational | None:
    """The exact value of a plain-number answer (normalised), else None."""
    s = normalize(answer).replace(" ", "")
    if len(s) > 64 or not _NUMERIC.match(s):
        return None
    if re.search(r"[eE]", s):
        mantissa, exponent = re.split(r"[eE]", s)
        if abs(int(exponent)) > 300:
            return None
        return sympy.Rational(mantissa) * sympy.Rational(10) ** int(exponent)
    return sympy.Rational(s)


def is_equiv(pred: str, gold: str, *, checker: BoundedChecker | None = None) -> bool:
    """True when `pred` and `gold` denote the same answer (LaTeX or plain; `\\boxed{}` accepted).

    Never takes longer than the checker's time bound (default `tasks.math.bounded.DEFAULT_TIMEOUT_S`);
    an answer that cannot be decided in time counts as not equivalent.
    """
    return is_equiv_many([(pred, gold)], checker=checker)[0]


def is_equiv_many(pairs: list[tuple[str, str]], *, checker: BoundedChecker | None = None) -> list[bool]:
    """`is_equiv` over many pairs; the symbolic ones share one round trip to the worker."""
    results: list[bool | None] = [_quick_verdict(p, g) for p, g in pairs]
    pending = [i for i, r in enumerate(results) if r is None]
    if pending:
        checker = checker or default_checker()
        verdicts = checker.check_many([(normalize(pairs[i][0]), normalize(pairs[i][1])) for i in pending])
        for i, v in zip(pending, verdicts):
            results[i] = v
    return [bool(r) for r in results]


def _quick_verdict(pred: str, gold: str) -> bool | None:
    """The verdict when it needs no parser (plain numbers, identical or empty answers), else None."""
    p, g = normalize(pred), normalize(gold)
    if not p or not g:
        return False
    if p.replace(" ", "") == g.replace(" ", ""):
        return True
    rp, rg = to_rational(p), to_rational(g)
    if rp is not None and rg is not None:
        return rp == rg
    if _CHOICE.match(p) and _CHOICE.match(g):
        return False  # two different choice letters
    return None
