"""What a `grainbench run` process pays before any work: the smoke suite on a cached base, run by the
CLI's entry point in this process (imports paid once) and as a fresh `python -m harness.cli` process,
interleaved so that both see the same machine. This is why the tests run most suites in-process and
keep real processes for what only a process shows (exit codes, signals, a fresh interpreter).

    python benchmarks/cli_startup.py [--suite suites/smoke.yaml] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def in_process(args: list[str]) -> None:
    from harness.cli import main

    argv, sys.argv, err = sys.argv, ["grainbench", *args], io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exit_:
        if exit_.code:
            raise RuntimeError(f"grainbench {' '.join(args)} exited {exit_.code}: {err.getvalue()[-2000:]}") from None
    finally:
        sys.argv = argv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path, default=Path(__file__).resolve().parents[1] / "suites" / "smoke.yaml")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    opts = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(opts.threads)

    import_started = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    import harness.suites.suite  # noqa: F401  what `run` imports: torch, transformers, the harness
    import torch

    torch.set_num_threads(opts.threads)
    import_cost = time.perf_counter() - import_started[0], cpu_seconds(resource.RUSAGE_SELF) - import_started[1]

    work = Path(tempfile.mkdtemp(prefix="cli_startup_"))
    try:
        args = ["run", str(opts.suite), "--out", str(work / "out"), "--cache", str(work / "cache")]
        in_process(args)  # builds the base and its evaluation once: every timed run below reuses them
        rows = []
        for _ in range(opts.rounds):
            for how in ("in this process", "fresh process"):
                shutil.rmtree(work / "out", ignore_errors=True)
                who = resource.RUSAGE_SELF if how == "in this process" else resource.RUSAGE_CHILDREN
                wall, cpu = time.perf_counter(), cpu_seconds(who)
                if how == "in this process":
                    in_process(args)
                else:
                    subprocess.run([sys.executable, "-m", "harness.cli", *args], check=True, capture_output=True)
                rows.append((how, time.perf_counter() - wall, cpu_seconds(who) - cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"importing harness.suites.suite here: {import_cost[0]:.1f} s wall, {import_cost[1]:.1f} CPU-s\n")
    print(f"{'run of ' + opts.suite.name:<28} {'wall s':>8} {'CPU s':>8}")
    for how in ("in this process", "fresh process"):
        mine = [r for r in rows if r[0] == how]
        wall, cpu = (sorted(r[i] for r in mine)[len(mine) // 2] for i in (1, 2))
        print(f"{how:<28} {wall:>8.1f} {cpu:>8.1f}")
    print(f"(medians of {opts.rounds} rounds, {opts.threads} thread(s))")


if __name__ == "__main__":
    main()
