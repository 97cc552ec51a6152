"""Test assembly: the tests run in a checker process; the candidate's code runs in another.

A checked program is two processes in one sandbox. The *candidate* process (`candidate.py`) loads
the solution and answers calls; the *checker* process (`main.py`) runs the tests, calling the
candidate's functions across a pipe with arguments and results in plain data (`tasks/code/plain.py`:
None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset — decoding runs
none of the sender's code). Every assert, equality and tolerance is decided by the checker on values
it built itself, so nothing the candidate does in its own interpreter — rebinding functions,
objects that equal everything, exit hooks, walking frames — reaches a verdict. A result that is not
plain data fails the call.

The candidate process is clean: in a fresh sandbox the checker forks it before reading anything,
and under the fork server it is forked by a spawner that never held a test (`zygote.py`). The
checker reads the tests into memory, opens the cases file (read one case at a time as the tests go)
and deletes both files before the candidate's code runs, and it is not dumpable, so the candidate
cannot read its memory or file descriptors.

The verdict: the checker reads a per-run nonce from a pipe and writes it back on another only after
every test has passed; the harness passes a run only when the checker exits 0 *and* the nonce came
back unchanged.
"""

from __future__ import annotations

CODE_SCORER = "code-check-2"  # bump when the runner, sandbox limits or comparisons change a verdict

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tasks.code.sandbox import Program, Verdict, run

PLAIN = Path(__file__).with_name("plain.py").read_text(encoding="utf-8")
NONCE_BYTES = 32  # the feed: the nonce, then the entry point's name

CANDIDATE = PLAIN + r'''
import sys, traceback

def _gb_serve(requests, replies):
    if receive(requests) is None:  # the checker says go once the tests are out of reach
        os._exit(0)
    objects = []  # what handles stand for: this process's objects, which never leave it

    def register(value):
        objects.append(value)
        return len(objects) - 1

    def resolve(n):
        if not 0 <= n < len(objects):
            raise ValueError("unknown handle")
        return objects[n]

    scope = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        for part in ("solution.py", "setup.py"):  # the task's setup code builds its objects from the solution's
            with open(part, encoding="utf-8") as f:
                exec(compile(f.read(), part, "exec"), scope)
    except BaseException as e:
        traceback.print_exc()
        send(replies, {"error": f"{type(e).__name__} while loading the solution"})
        os._exit(1)
    names = {}
    for name, value in list(scope.items()):
        if name.startswith("__"):
            continue
        if type(value) is type(sys):
            names[name] = ("module", str(value.__name__))
        elif callable(value):
            names[name] = ("callable",)
        else:
            names[name] = ("value", value)  # plain (encoded as such), or a handle
    send(replies, {"names": names}, register)
    while True:
        request = receive(requests, resolve)
        if request is None:
            os._exit(0)
        try:
            result = scope[request["call"]](*request["args"], **request["kwargs"])
            send(replies, {"value": result}, register)
            continue
        except BaseException as e:
            traceback.print_exc()
            reply = {"raised": str(type(e).__name__), "message": str(e)[:1000]}
        send(replies, reply)

_gb_serve(int(sys.argv[1]), int(sys.argv[2]))
'''

CHECKER = PLAIN + f"NONCE_BYTES = {NONCE_BYTES}\n" + r'''
import builtins, math, sys, traceback

# nothing is ever imported from the working directory, which the candidate can write to; what tests
# commonly import is imported now, from the standard library, before the candidate's code runs
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) not in (os.getcwd(), os.path.dirname(os.path.abspath(sys.argv[0])))]
for _gb_module in ("collections", "copy", "decimal", "fractions", "functools", "heapq", "itertools", "math", "random",
                   "re", "statistics", "string"):
    __import__(_gb_module)

def _gb_not_dumpable():
    """No process of the same user (the candidate) may read this one's memory or descriptors."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass

def _gb_start_candidate(feed_fd, report_fd):
    """A fresh sandbox: fork the candidate's process now, before anything secret is read."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    if os.fork() == 0:
        for fd in (feed_fd, report_fd, requests_w, replies_r):
            os.close(fd)
        import runpy
        sys.argv = ["candidate.py", str(requests_r), str(replies_w)]
        runpy.run_path("candidate.py", run_name="__main__")
        os._exit(0)
    os.close(requests_r)
    os.close(replies_w)
    return requests_w, replies_r

class CandidateError(Exception):
    """The candidate's process failed to answer a call with plain data."""

class CandidateObject:
    """An object that stays in the candidate's process: it can be passed back, nothing more. It equals
    only itself and has no truth value, so it can never stand for an expected value."""
    __slots__ = ("handle",)

    def __init__(self, handle):
        self.handle = handle

    def __bool__(self):
        raise TypeError("a candidate's object has no truth value in the checker")

    def __repr__(self):
        return f"<candidate object {self.handle}>"

_gb_objects = {}

def _gb_resolve(n):
    return _gb_objects.setdefault(n, CandidateObject(n))

def _gb_register(value):
    if isinstance(value, CandidateObject):
        return value.handle
    raise Unencodable(f"a {type(value).__name__} cannot be passed to the candidate")

def _gb_proxy(name, requests, replies):
    def call(*args, **kwargs):
        try:
            send(requests, {"call": name, "args": args, "kwargs": kwargs}, _gb_register)
            reply = receive(replies, _gb_resolve)
            if reply is None:
                raise CandidateError(f"the candidate's process ended during {name}()")
            if type(reply) is not dict:
                raise ValueError("not a reply")
            if "value" in reply:
                return reply["value"]
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as e:
            raise CandidateError(f"{name}(): {type(e).__name__}: {e}") from None
        raised = getattr(builtins, str(reply.get("raised")), None)
        kind = raised if isinstance(raised, type) and issubclass(raised, Exception) else CandidateError
        raise kind(str(reply.get("message", ""))[:1000])
    call.__name__ = name
    return call

def _gb_close(out, exp, atol, isclose=math.isclose):
    """evalplus's check: exact for non-floats, else within atol (or a relative 1e-6 when atol is 0)."""
    if isinstance(exp, float) or (isinstance(exp, (list, tuple)) and any(isinstance(e, float) for e in exp)):
        outs, exps = (out, exp) if isinstance(exp, (list, tuple)) else ([out], [exp])
        if not isinstance(outs, (list, tuple)) or len(outs) != len(exps):
            return False
        return all(isinstance(o, (int, float)) and not isinstance(o, bool) and
                   isclose(o, e, rel_tol=0 if atol else 1e-6, abs_tol=atol) or o == e
                   for o, e in zip(outs, exps))
    return out == exp

def _gb_stream(f):
    """The pickled cases of `f`, one at a time: a program failing its first case never waits for the rest."""
    import pickle
    with f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return

def _gb_check(feed_fd, report_fd, candidate_fds):
    _gb_not_dumpable()
    requests, replies = candidate_fds or _gb_start_candidate(feed_fd, report_fd)
    with os.fdopen(feed_fd, "rb") as feed:
        message = feed.read()
    nonce, entry_point = message[:NONCE_BYTES], message[NONCE_BYTES:].decode()
    report = os.fdopen(report_fd, "wb", buffering=0)
    with open("tests.py", encoding="utf-8") as f:
        tests = f.read()
    cases = _gb_stream(open("cases.pkl", "rb")) if os.path.exists("cases.pkl") else None  # read as the tests go
    for name in ("tests.py", "cases.pkl"):  # gone before the candidate's code runs (an open file stays readable)
        if os.path.exists(name):
            os.unlink(name)
    try:
        send(requests, {"go": True})
        hello = receive(replies, _gb_resolve)
        if type(hello) is not dict or type(hello.get("names")) is not dict:
            raise CandidateError("the solution did not load: "
                                 f"{hello.get('error') if isinstance(hello, dict) else 'no answer'}")
        scope = {"__name__": "tests"}
        for name, value in hello["names"].items():
            name = str(name)
            # a candidate's `abs` or `sorted` must not answer for the tests' own: only the entry point
            # may carry a builtin's name
            if name.startswith("_gb_") or (hasattr(builtins, name) and name != entry_point) or type(value) is not tuple:
                continue
            if value == ("callable",):
                scope[name] = _gb_proxy(name, requests, replies)
            elif len(value) == 2 and value[0] == "module" and type(value[1]) is str:
                try:
                    import importlib
                    scope[name] = importlib.import_module(value[1])  # the checker's own, from the standard library
                except Exception:
                    pass
            elif len(value) == 2 and value[0] == "value":
                scope[name] = value[1]
        scope.update(_gb_close=_gb_close, _gb_cases=cases)
        exec(compile(tests, "tests.py", "exec"), scope)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(1)  # no atexit handler may run, let alone change the status
    sys.stdout.flush(); sys.stderr.flush()
    report.write(nonce)
    os._exit(0)

_gb_check(int(sys.argv[1]), int(sys.argv[2]), (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else None)
'''


def check_solution(solution: str, entry_point: str, test_list: list[str], timeout_s: float = 5.0, *,
                   cases: bytes | None = None, setup: str = "") -> Verdict:
    """Pass when the function `entry_point` defined by `solution` satisfies every assert of `test_list`.

    The one path through which HumanEval, MBPP, the synthetic task and RL rewards are scored.
    `cases` (concatenated pickles, e.g. evalplus's (inputs, expected output) pairs) reach the tests as
    `_gb_cases`, an iterator that unpickles one case at a time;
    `setup` (a task's setup code, e.g. MBPP's trees of the solution's own `Node`s) runs after the
    solution, in the candidate's process, and what it defines reaches the tests as values or handles.
    """
    nonce = secrets.token_hex(NONCE_BYTES // 2).encode()
    files = {"main.py": CHECKER, "candidate.py": CANDIDATE, "solution.py": solution, "setup.py": setup,
             "tests.py": "\n".join(test_list)}
    if cases is not None:
        files["cases.pkl"] = cases
    verdict, report = run(Program(files, feed=nonce + entry_point.encode(), precompiled=("main.py", "candidate.py")),
                          timeout_s)
    if verdict.status == "pass" and report != nonce:
        return Verdict("fail", verdict.stdout, verdict.stderr, verdict.duration_s, verdict.exit_code,
                       "exited with status 0 before its tests finished", verdict.mode)
    return verdict


VERDICTS_KEPT = 100_000  # a task's memo of verdicts is cleared past this many (a long RL run on code)


def scores_in_parallel(check: Callable[..., Verdict], problems: list, completions: list[str], workers: int = 0,
                       known: dict | None = None) -> list:
    """Scores from `check(problem, completion)` verdicts, `workers` sandboxes at a time (0: one per
    core). Reward 1 for a pass, else 0; the verdict's status is kept as the score's answer.

    A verdict is a function of the program and the tests, so a completion repeated for its problem (a
    group's samples, or — with `known`, the task's memo — an earlier evaluation's) is run once."""
    from tasks.base import Score

    known = {} if known is None else known
    if len(known) > VERDICTS_KEPT:
        known.clear()
    keys = [(p.id, p.answer, c) for p, c in zip(problems, completions)]
    todo = {k: (p, c) for k, p, c in zip(keys, problems, completions) if k not in known}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        known.update(zip(todo, pool.map(lambda k: check(*todo[k]).status, todo)))
    return [Score(reward=float(known[k] == "pass"), correct=known[k] == "pass", answer=known[k]) for k in keys]
