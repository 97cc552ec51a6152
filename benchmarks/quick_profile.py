"""Where the quick suite's time goes: a few training steps and two rounds of evaluation of its GRPO run
(every eval task, the same task objects, more steps between them, as a run evaluates), profiled with
one thread (as a local worker runs it), printed as timings and a table of the heaviest calls.

    python benchmarks/quick_profile.py [--suite suites/quick.yaml] [--cache DIR] [--steps 5]

The base model is built (or reused) from the cache like `grainbench run` does.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import torch

from harness.cli import DEFAULT_CACHE
from harness.spec.config import load_suite, runs_of
from harness.spec.plugins import algorithm_of, make_engine, task_of
from harness.suites.run import run_eval
from harness.suites.suite import resolve_base
from harness.training.budget import Budget
from harness.training.embedded import load_checkpoint
from harness.training.trainer import Trainer

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--label", default="grpo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    run = next(r for r in runs_of(suite) if r.label == args.label)
    base, _ = resolve_base(suite, args.cache)
    tokenizer, model = load_checkpoint(base)
    engine = make_engine(run.engine, model, tokenizer)
    trainer = Trainer(model=model, tokenizer=tokenizer, engine=engine, task=task_of(run.task, run.tasks),
                      algorithm=algorithm_of(run), rollout_cfg=run.rollout, train_cfg=run.train,
                      budget=Budget("flops", 1e30, sum(p.numel() for p in model.parameters())), seed=run.seed)
    tasks = {name: task_of(name, run.tasks) for name in run.tasks.eval}
    profile = cProfile.Profile()
    timings = []
    profile.enable()
    for round_ in (1, 2):
        started = time.perf_counter()
        for step in range(1 + (round_ - 1) * args.steps, 1 + round_ * args.steps):
            trainer.step(step)
        timings.append((f"{args.steps} training steps", time.perf_counter() - started))
        for name, task in tasks.items():
            started = time.perf_counter()
            run_eval(engine, tokenizer, task, run)
            timings.append((f"evaluation {round_} of {name}", time.perf_counter() - started))
    profile.disable()
    stats = pstats.Stats(profile)
    for what, seconds in timings:
        print(f"{what}: {seconds:.1f} s")
    print()
    print(f"{'cumulative s':>12}  {'calls':>8}  function")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])
    shown = 0
    for (file, line, name), (_, calls, _, cumulative, _) in rows:
        if any(part in file for part in ("harness", "algorithms", "tasks", "transformers", "torch/optim")):
            print(f"{cumulative:12.2f}  {calls:8d}  {Path(file).parent.name}/{Path(file).name}:{line} {name}")
            shown += 1
        if shown == 25:
            break


if __name__ == "__main__":
    main()
