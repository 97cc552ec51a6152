"""Symbolic equivalence of two normalised answers; runs inside the bounded worker process.

Parsing and comparison use math-verify (Hugging Face), built on latex2sympy2_extended. We chose it
over calling latex2sympy2_extended directly because its comparison already handles what MATH
answers need structurally (sets vs. sets in any order, intervals with open/closed ends, unions,
tuples in order, matrices entrywise, equations and `x =` assignments, numeric equality with
rounding); both are maintained by the same people. Its signal-based timeouts are switched off
here: the time bound is the worker's (see `tasks.math.bounded`). On top we add what its
comparison lacks: `i` as the imaginary unit and a numeric-sampling fallback for expressions that
`simplify` cannot reduce.
"""

from __future__ import annotations

import cmath
import json
import logging
import random
import re
import sys

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that we disabled its timeouts
_CONFIG = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_NUMERIC_PRECISION = 400  # digits for numeric equality: 1/100! and 1/101! differ near 1e-158, and both are exact


def _parse(answer: str) -> list:
    return parse("\\boxed{" + _exact_decimals(answer) + "}", _CONFIG, parsing_timeout=None)


def _exact_decimals(answer: str) -> str:
    """Decimals as the exact fractions they write (0.125 → 125/1000): an answer is compared exactly,
    so a rounded decimal never equals the irrational or fraction it approximates."""
    return _DECIMAL.sub(lambda m: f"\\frac{{{m.group(1)}{m.group(2)}}}{{1{'0' * len(m.group(2))}}}", answer)


def _imaginary(parsed: list, other: list) -> list:
    """A free `i` means the imaginary unit when the other side is complex (`i` vs `\\sqrt{-1}`), or
    when `i` is the only symbol on either side (`i^3` vs `-i`, `e^{i\\pi/2}` vs `i`)."""

    def symbols(exprs) -> set:
        return set().union(*(e.free_symbols for e in exprs if isinstance(e, sympy.Basic)))

    def complex_valued(expr) -> bool:
        return isinstance(expr, sympy.Basic) and (expr.doit().has(sympy.I) or _imaginary_symbols(expr) != {})

    names = {getattr(x, "name", None) for x in symbols(parsed) | symbols(other)}
    if not (names == {"i"} or any(complex_valued(o) for o in other)):
        return parsed
    return [p.subs(_imaginary_symbols(p)) if isinstance(p, sympy.Basic) else p for p in parsed]


def _imaginary_symbols(expr) -> dict:
    return {s: sympy.I for s in expr.free_symbols if getattr(s, "name", None) == "i"}


def _sampled_equal(a, b) -> bool:
    """Equal at points of their free symbols on both sides of zero and across magnitudes (for
    identities `simplify` misses); `|t-1|` and `t-1` agree only where t ≥ 1, so both signs matter."""
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols or a.free_symbols != b.free_symbols:
        return False
    rng = random.Random(0)
    magnitudes = [sympy.Rational(1, 1000), sympy.Rational(1, 7), 1, 3, 50, 10**6]
    agreed = 0
    for trial in range(12):
        point = {s: (-1) ** (trial + k) * magnitudes[(trial + k) % len(magnitudes)] * sympy.Rational(rng.randint(50, 150), 97)
                 for k, s in enumerate(symbols)}
        x, y = complex(a.evalf(40, subs=point)), complex(b.evalf(40, subs=point))
        if not (cmath.isfinite(x) and cmath.isfinite(y)):
            continue  # outside one side's domain
        if abs(x - y) > 1e-12 * max(abs(x), abs(y)):
            return False
        agreed += 1
    return agreed >= 8


def _same_line(p, g) -> bool:
    """Two equations with the same solutions because one is the other scaled: (l₁−r₁)/(l₂−r₂) is a
    non-zero constant (`3x = 6y` and `x = 2y`; `y = 3 - x` and `x + y = 3`)."""
    if not (isinstance(p, sympy.Eq) and isinstance(g, sympy.Eq)):
        return False
    a, b = p.lhs - p.rhs, g.lhs - g.rhs
    if a.free_symbols != b.free_symbols or b == 0:
        return False
    ratio = sympy.simplify(a / b)
    return not ratio.free_symbols and ratio.is_nonzero is True and ratio.is_finite is True


def equivalent(pred: str, gold: str) -> bool:
    p, g = _parse(pred), _parse(gold)
    if not p or not g:
        return False
    p, g = _imaginary(p, g), _imaginary(g, p)
    if isinstance(p[0], sympy.Eq) != isinstance(g[0], sympy.Eq):
        return False  # an equation with unknowns on both sides is not its right-hand side (`x =` went earlier)
    if verify(g, p, numeric_precision=_NUMERIC_PRECISION, allow_set_relation_comp=True, timeout_seconds=None):
        return True
    return _same_line(p[0], g[0]) or _sampled_equal(p[0], g[0])


def serve(stdin=sys.stdin.buffer, stdout=sys.stdout.buffer) -> None:
    """Worker loop: a `ready` line, then one verdict line per JSON `[pred, gold]` line."""
    stdout.write(b"ready\n")
    stdout.flush()
    for line in stdin:
        try:
            pred, gold = json.loads(line)
            ok = equivalent(pred, gold)
        except Exception:
            ok = False
        stdout.write(b"1\n" if ok else b"0\n")
        stdout.flush()


if __name__ == "__main__":
    serve()
