"""Answer extraction and equivalence for math completions: the scorer behind every math number.

Three layers, cheapest first:
1. `extract_answer` (`tasks.math.extraction`) finds the final answer of a whole response: its
   boxes, `#### n`, "the answer is …", else the last complete math block or standalone number.
2. `normalize` removes what graders agree does not matter (units and `\\text{}`, `\\dfrac`,
   thousands separators, percent, degrees, trailing punctuation, `x =` prefixes, choice-letter
   wrappers) and rewrites other spellings exactly (`tasks.math.spelling`: Unicode, markdown,
   repeating decimals, degrees inside trigonometric functions, `\\pmod`, prose). A pair is
   compared under each of its readings (`readings_of`: equations as relations, percentages as
   hundredths, choice letters with their values). Plain numbers are then compared in-process as exact sympy Rationals: GSM8K-style
   checks never leave the process and never touch a parser.
3. Everything else (LaTeX, expressions, sets, intervals, tuples, matrices) goes to
   `tasks.math.symbolic` in a killable worker process (`tasks.math.bounded`), so a pathological
   expression costs at most the time bound, in any thread, process pool or Ray task.
"""

from __future__ import annotations

MATH_SCORER = "math-answer-2"  # bump when extraction or equivalence changes what counts as correct

import re
from functools import lru_cache

import sympy

from tasks.math import spelling
from tasks.math.bounded import BoundedChecker, default_checker
from tasks.math.extraction import extract_answer, last_boxed, marked_answer  # noqa: F401 (the scorer's API)

# plain numbers: optional sign, digits with an optional decimal part and exponent, or a fraction a/b
_NUMERIC = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?$")
# a comma group of three digits after a non-zero integer part; "0,111" and "1,22" are decimal commas
# in much of the world: ambiguous, so never read as a number
_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:(?:,|\{,\}|\\,|\s)\d{3})+(?:\.\d+)?$")
_TEXT = re.compile(r"\\(?:text|textbf|textrm|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_ASSIGNMENT = re.compile(r"^\\?[a-zA-Z]\w*\s*(?:=|\\coloneqq)\s*(?!.*=)")
_CHOICE = re.compile(r"^\(?([A-E])\)?$")
_CHOICE_WITH_VALUE = re.compile(r"^(?:\(([A-E])\)|([A-E])[).:])\s*(\S.*)$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z '-]*$")
_UNIT_TAIL = re.compile(r"^([-+]?[\d.,/]+)(?:\s+[a-zA-Z]+\.?(?:\^\{?\d\}?)?)+\s*$")  # "18 dollars", "12 cm^2"
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|~|\\q?quad")


def _unwrap(answer: str) -> str:
    """An answer string may itself carry a marker ("#### 42", "\\boxed{7}", "The answer is 42.")."""
    return marked_answer(answer) or ("" if "\\boxed" in answer or "\\fbox" in answer else answer)


@lru_cache(maxsize=65536)
def normalize(answer: str, keep_relation: bool = False) -> str:
    """A canonical spelling: equal strings here are equal answers (the converse needs sympy).

    `keep_relation` keeps an equation whole instead of dropping an `x =` prefix (for comparing two
    equations as relations)."""
    s = spelling.markdown(spelling.unicode_math(_unwrap(answer).strip()))
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s).strip()
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"(\d),\\!\s*(?=\d{3})", r"\1", s)  # MATH's thousands separator, wherever the number is
    s = _SPACING.sub(" ", s)
    s = spelling.trig_of_degrees(s)
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
    s = spelling.empty_set(spelling.from_sentence(spelling.repeating_decimal(spelling.residue(s))))
    if not keep_relation:
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
    try:
        return sympy.Rational(s)
    except ZeroDivisionError:  # "1/0" in a response is no number, not a crash of the reward
        return None


def is_equiv(pred: str, gold: str, *, checker: BoundedChecker | None = None) -> bool:
    """True when `pred` and `gold` denote the same answer (LaTeX or plain; `\\boxed{}` accepted).

    Never takes longer than the checker's time bound (default `tasks.math.bounded.DEFAULT_TIMEOUT_S`);
    an answer that cannot be decided in time counts as not equivalent.
    """
    return is_equiv_many([(pred, gold)], checker=checker)[0]


def is_equiv_many(pairs: list[tuple[str, str]], *, checker: BoundedChecker | None = None) -> list[bool]:
    """`is_equiv` over many pairs; the symbolic ones share one round trip to the worker. A pair is
    equal when any of its readings (`readings`) is."""
    readings = [readings_of(p, g) for p, g in pairs]
    flat = [(i, p, g) for i, options in enumerate(readings) for p, g in options]
    verdicts: list[bool | None] = [_quick_verdict(p, g) for _, p, g in flat]
    pending = [k for k, v in enumerate(verdicts) if v is None]
    if pending:
        checker = checker or default_checker()
        for k, v in zip(pending, checker.check_many([flat[k][1:] for k in pending])):
            verdicts[k] = v
    results = [False] * len(pairs)
    for (i, _, _), v in zip(flat, verdicts):
        results[i] = results[i] or bool(v)
    return results


def readings_of(pred: str, gold: str) -> list[tuple[str, str]]:
    """The normalised (pred, gold) pairs the two answers may mean together: equations kept whole when
    both are equations (unless both merely assign a value); a choice letter against its letter, or
    its value against a value; a percentage as itself or as its hundredth against a plain number."""
    relations = _is_equation(pred) and _is_equation(gold) and not (_assigns(pred) and _assigns(gold))
    p, g = normalize(pred, relations), normalize(gold, relations)
    options = [(p, g)]
    for a, b, flip in ((p, g, False), (g, p, True)):
        labelled = _CHOICE_WITH_VALUE.match(a)
        if labelled:
            letter, value = labelled.group(1) or labelled.group(2), labelled.group(3)
            option = (letter, b) if _CHOICE.match(b) else (value, b)
            options = [option[::-1] if flip else option]
    p_pct, g_pct = _is_percent(pred), _is_percent(gold)
    if p_pct != g_pct:
        options += [(_hundredth(a), b) if p_pct else (a, _hundredth(b)) for a, b in options]
    return options


def _is_equation(answer: str) -> bool:
    return normalize(answer, True).count("=") == 1


def _assigns(answer: str) -> bool:
    """`x = 3`, `y = 2x + 1`: a name given a value that does not involve it."""
    lhs, _, rhs = normalize(answer, True).partition("=")
    return bool(re.fullmatch(r"\s*\\?[a-zA-Z]\w*\s*", lhs)) and not re.search(r"(?<![a-zA-Z\\])" + re.escape(lhs.strip()) + r"(?![a-zA-Z])", rhs)


def _is_percent(answer: str) -> bool:
    return "%" in _unwrap(answer)


def _hundredth(normalised: str) -> str:
    value = to_rational(normalised)
    return str(value / 100) if value is not None else f"\\frac{{{normalised}}}{{100}}"


def _quick_verdict(p: str, g: str) -> bool | None:
    """The verdict on two normalised answers when it needs no parser (plain numbers, identical or
    empty answers, two choice letters, two words), else None."""
    if not p or not g:
        return False
    if p.replace(" ", "") == g.replace(" ", ""):
        return True
    rp, rg = to_rational(p), to_rational(g)
    if rp is not None and rg is not None:
        return rp == rg
    if _CHOICE.match(p) and _CHOICE.match(g):
        return False  # two different choice letters
    if _WORDS.match(p) and _WORDS.match(g) and max(len(p), len(g)) >= 3 and p.lower() == g.lower():
        return True  # text answers ("Odd", "odd") compare without case
    return None
