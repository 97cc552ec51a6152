"""A/A check of the leaderboard's statistics: GRPO registered a second time as `grpo_twin` (the same
class, another name) and run on different seeds must come out statistically indistinguishable —
their 95 % intervals overlap on every metric, and the paired test of `grpo compare` (twin seed i
paired with GRPO seed i: independent runs on the same eval problems) does not call them different
at 95 %. A harness whose seeds leak, whose runs share state, or whose intervals are too narrow fails this.

    python benchmarks/aa_check.py [--suite suites/quick.yaml] [--seeds 0,1,2 --twin-seeds 3,4,5]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from algorithms import register
from algorithms.grpo import GRPO
import numpy as np

from harness.results import comparison, leaderboard
from harness.spec.config import load_suite, runs_of
from harness.suites.suite import run_suite


@register("grpo_twin")
class GRPOTwin(GRPO):
    """GRPO under a second name: the A/A control."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--twin-seeds", default="3,4,5")
    parser.add_argument("--out", type=Path, default=Path("results/aa_check"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "grainbench")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ids = []
    for name, seeds in (("grpo", args.seeds), ("grpo_twin", args.twin_seeds)):
        suite = load_suite(args.suite, seeds=parse(seeds))
        suite = suite.model_copy(update={"algorithms": {name: {}}, "baseline": None})
        run_suite(suite, args.out, args.cache, progress=False)
        ids += [run.run_id for run in runs_of(suite)]
    table = leaderboard.build(args.out, ids)  # both sets of runs, one table
    metrics = ["pass@1", "delta_pass@1", "auc_pass@1"] + [c for c in table.columns if c.startswith(("pass@", "maj@"))
                                                           and c != "pass@1" and not c.endswith("_ci95")]
    print(f"| task | metric | grpo (seeds {args.seeds}) | grpo_twin (seeds {args.twin_seeds}) | intervals overlap |")
    print("|---|---|---|---|---|")
    all_overlap = True
    for task, rows in table.groupby("task", sort=False):
        a, b = (rows[rows["algorithm"] == name].iloc[0] for name in ("grpo", "grpo_twin"))
        for m in metrics:
            if a[m] != a[m]:  # NaN: no such metric for this task (maj@n of code)
                continue
            lo_a, hi_a = a[m] - a[f"{m}_ci95"], a[m] + a[f"{m}_ci95"]
            lo_b, hi_b = b[m] - b[f"{m}_ci95"], b[m] + b[f"{m}_ci95"]
            overlap = lo_a <= hi_b and lo_b <= hi_a
            all_overlap &= overlap
            print(f"| {task} | {m} | {a[m]:.3f} ± {a[f'{m}_ci95']:.3f} | {b[m]:.3f} ± {b[f'{m}_ci95']:.3f} | "
                  f"{'yes' if overlap else 'NO'} |")
    print(f"\nA/A: {'every interval pair overlaps' if all_overlap else 'SOME INTERVALS DO NOT OVERLAP'}")

    scores = comparison.problem_scores(args.out, ids)
    twin = scores["algorithm"] == "grpo_twin"
    scores.loc[twin, "seed"] = scores.loc[twin, "seed"].map(dict(zip(parse(args.twin_seeds), parse(args.seeds))))
    print("\n| task | paired Δ pass@1 (twin − grpo) | 95 % interval | p | called different |\n|---|---|---|---|---|")
    called = False
    for task in sorted(scores["task"].unique()):
        d = comparison.paired(scores, "grpo_twin", "grpo", [task])
        mean, low, high, p = comparison.paired_test(d, comparison.RESAMPLES, np.random.default_rng(0))
        called |= p < 0.05
        print(f"| {task} | {mean:+.3f} | [{low:+.3f}, {high:+.3f}] | {p:.3g} | {'YES' if p < 0.05 else 'no'} |")
    print(f"\nA/A paired: {'CALLED DIFFERENT' if called else 'not called different at 95 %'}")


def parse(seeds: str) -> list[int]:
    return [int(s) for s in seeds.split(",")]


if __name__ == "__main__":
    main()
