"""Where the quick suite's time goes: a few training steps and one evaluation of its GRPO run, profiled
with one thread (as a local worker runs it), printed as a table of the heaviest calls.

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
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for step in range(1, args.steps + 1):
        trainer.step(step)
    trained = time.perf_counter()
    run_eval(engine, tokenizer, task_of(run.task, run.tasks), run)
    profile.disable()
    evaluated = time.perf_counter()
    stats = pstats.Stats(profile)
    print(f"{args.steps} training steps: {trained - started:.1f} s; one {run.task} evaluation: {evaluated - trained:.1f} s\n")
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
