"""Surface spellings of one answer, rewritten to the LaTeX the parser reads: Unicode math, markdown,
repeating decimals, trigonometric functions of degrees, residues written with `\\pmod`, empty-set
spellings and answers wrapped in a sentence.

Each rule rewrites a *kind* of spelling into an exact equivalent, never into an approximation: a
rewrite that could change the value is not made (the answer then simply fails to match).
"""

from __future__ import annotations

import re

_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5),
           "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8),
           "⅑": (1, 9), "⅒": (1, 10)}
_SUPERSCRIPT = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_SYMBOLS = {"π": "\\pi ", "∞": "\\infty ", "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ", "÷": "\\div ", "≤": "\\le ",
            "≥": "\\ge ", "≠": "\\ne ", "∅": "\\emptyset ", "∪": "\\cup ", "∩": "\\cap ", "θ": "\\theta ", "α": "\\alpha ",
            "β": "\\beta ", "−": "-", "–": "-", "⁄": "/", "°": "^\\circ ", "√": "\\sqrt ", "∛": "\\sqrt[3]", "∜": "\\sqrt[4]"}
_ROOT_ARGUMENT = re.compile(r"(\\sqrt(?:\[\d\])?)\s*(\d+(?:\.\d+)?|\\?[a-zA-Z]+|\([^()]*\))")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_TRIG_DEGREES = re.compile(r"\\(sin|cos|tan|cot|sec|csc)\s*(?:\(\s*)?\{?\s*(" + _NUMBER + r")\s*\}?\s*\^\s*\{?\s*\\circ\s*\}?(?:\s*\))?")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\(?:overline|dot)\s*\{(\d+)\}")
_MOD = re.compile(r"\s*\(?\s*\\(?:pmod|bmod|mod)\s*\{?\s*\d+\s*\}?\s*\)?\s*$")
_EQUIV = re.compile(r"^[^=]*\\equiv\s*")
_EMPTY = re.compile(r"^(?:\\varnothing|\\O|\\\{\s*\\\}|\{\s*\}|\\text\{\s*(?:the\s+)?empty\s+set\s*\}|(?:the\s+)?empty\s+set|"
                    r"no\s+solutions?)$", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
_SENTENCE = re.compile(r"^[A-Za-z][A-Za-z,' ]*?\b(?:is|are|was|were|equals|be|makes|gives|get|gets)\s+(.+?)$")
_STANDALONE_NUMBER = re.compile(r"(?<![\w.^/\\])[-+]?\d[\d,]*(?:\.\d+)?(?![\w^/])")


def unicode_math(s: str) -> str:
    """`½`, `√2`, `∛8`, `3²`, `π`, `≤`, … as LaTeX (a vulgar fraction after digits is a mixed number)."""
    if s.isascii():
        return s
    s = re.sub("(\\d)([" + "".join(_VULGAR) + "])", lambda m: f"{m.group(1)}+{m.group(2)}", s)
    for char, (a, b) in _VULGAR.items():
        s = s.replace(char, f"\\frac{{{a}}}{{{b}}}")
    s = re.sub("[" + "".join(_SUPERSCRIPT) + "]+", lambda m: "^{" + "".join(_SUPERSCRIPT[c] for c in m.group(0)) + "}", s)
    for char, latex in _SYMBOLS.items():
        s = s.replace(char, latex)
    return _ROOT_ARGUMENT.sub(lambda m: f"{m.group(1)}{{{m.group(2).strip('()')}}}", s).strip()


def markdown(s: str) -> str:
    """`**x**`, `__x__` and backticks around an answer go; a sentence's final `.`, `,` or `;` goes."""
    s = re.sub(r"^(\*\*|__|`+)(.+)\1$", r"\2", s.strip()).strip()
    return re.sub(r"(?<!\\)[.,;:]+$", "", s).strip()


def trig_of_degrees(s: str) -> str:
    """`\\sin 30^\\circ` is sin(π/6), not sin(30): the degrees become radians before they are dropped."""
    return _TRIG_DEGREES.sub(lambda m: f"\\{m.group(1)}(\\frac{{{m.group(2)}\\pi}}{{180}})", s)


def repeating_decimal(s: str) -> str:
    """`0.\\overline{3}`, `0.1\\overline{6}`, `1.\\overline{142857}` as the exact fraction they denote."""

    def fraction(m: re.Match) -> str:
        sign, whole, head, cycle = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
        # whole.head(cycle)… = (whole·head·cycle − whole·head) / (10^|head| · (10^|cycle| − 1))
        numerator = int(whole + head + cycle) - int(whole + head)
        denominator = 10 ** len(head) * (10 ** len(cycle) - 1)
        return f"{sign}\\frac{{{numerator}}}{{{denominator}}}"

    return _REPEATING.sub(fraction, s)


def residue(s: str) -> str:
    """`3 \\pmod{7}` and `x \\equiv 3 \\pmod 7` are the residue 3."""
    if not _MOD.search(s):
        return s
    return _EQUIV.sub("", _MOD.sub("", s)).strip()


def empty_set(s: str) -> str:
    return "\\emptyset" if _EMPTY.match(s.strip()) else s


def from_sentence(s: str) -> str:
    """The answer inside a sentence: what follows its verb when that is a value and at most a unit
    ("So the total is 120 apples" → "120 apples"), else its only number when the sentence ends with it
    and at most two words ("She has 9 marbles left"). A sentence that negates anything, or says more
    about its number ("is 3 times the product"), is left as it is (and will not match)."""
    words = re.findall(r"[A-Za-z]{2,}", s)
    if len(words) < 3 or "\\" in s or "=" in s or _NEGATION.search(s):
        return s
    said = _SENTENCE.match(s)
    if said and len(re.findall(r"[A-Za-z]+", said.group(1))) <= 2:  # a value and at most its unit
        return said.group(1).strip()
    numbers = _STANDALONE_NUMBER.findall(s)
    closing = re.search(_STANDALONE_NUMBER.pattern + r"(?:\s+[A-Za-z]+){0,2}$", s)  # "… has 9 marbles left"
    return closing.group(0).split()[0] if len(numbers) == 1 and closing else s
