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
import sys

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that we disabled its timeouts
_CONFIG = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


def _parse(answer: str) -> list:
    return parse("\\boxed{" + answer + "}", _CONFIG, parsing_timeout=None)


def _imaginary(parsed: list, other: list) -> list:
    """A free `i` means the imaginary unit when the other side is complex (`i` vs `\\sqrt{-1}`)."""

    def complex_valued(expr) -> bool:
        return isinstance(expr, sympy.Basic) and (expr.doit().has(sympy.I) or _imaginary_symbols(expr) != {})

    if not any(complex_valued(o) for o in other):
        return parsed
    return [p.subs(_imaginary_symbols(p)) if isinstance(p, sympy.Basic) else p for p in parsed]


def _imaginary_symbols(expr) -> dict:
    return {s: sympy.I for s in expr.free_symbols if getattr(s, "name", None) == "i"}


def _sampled_equal(a, b, trials: int = 5) -> bool:
    """Equal at random points of their free symbols (for identities `simplify` misses)."""
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols or a.free_symbols != b.free_symbols:
        return False
    rng = random.Random(0)
    for _ in range(trials):
        point = {s: sympy.Rational(rng.randint(1, 97), rng.randint(1, 13)) for s in symbols}
        x, y = complex(a.evalf(30, subs=point)), complex(b.evalf(30, subs=point))
        if not (cmath.isfinite(x) and cmath.isfinite(y)) or abs(x - y) > 1e-9 * max(1.0, abs(x), abs(y)):
            return False
    return True


def equivalent(pred: str, gold: str) -> bool:
    p, g = _parse(pred), _parse(gold)
    if not p or not g:
        return False
    p, g = _imaginary(p, g), _imaginary(g, p)
    if verify(g, p, timeout_seconds=None):
        return True
    return _sampled_equal(p[0], g[0])


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
