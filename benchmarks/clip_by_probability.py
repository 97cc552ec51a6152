"""Why SPO's clip fraction is higher than GRPO's under the same token ε: SPO's loss holds only cut-point
tokens, those the sampler chose with probability < ρ, and those move most in an update. This trains
the suite's GRPO row once more with the clip fraction also measured on those tokens alone, and prints
both beside the suite's SPO row, so the three numbers come from one rule (ε₁ per token).

    python benchmarks/clip_by_probability.py [--suite suites/quick.yaml] [--rho 0.9]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algorithms import register
from algorithms.grpo import GRPO
from algorithms.objective import ppo_clip
from harness.spec.config import load_suite, runs_of
from harness.suites.suite import run_suite


@register("grpo_clip_probe")
@dataclass
class GRPOClipProbe(GRPO):
    """GRPO, unchanged, that also reports its clip fraction on tokens sampled with probability < ρ."""

    rho: float = 0.9

    def loss(self, new_logp, batch, ref_logp=None, count=None, new_entropy=None):
        loss, metrics = super().loss(new_logp, batch, ref_logp, count, new_entropy)
        _, active = ppo_clip(torch.exp(new_logp.detach() - batch.old_logp), batch.advantages, *self.epsilons(batch))
        unlikely = batch.mask.bool() & (batch.old_logp.exp() < self.rho)
        metrics["clip_frac_below_rho"] = float(active[unlikely].float().mean()) if unlikely.any() else 0.0
        metrics["share_below_rho"] = float(unlikely.sum() / batch.mask.sum().clamp(min=1))
        return loss, metrics


def mean_of(run_dir: Path, key: str) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return float(np.mean([r[key] for r in rows if key in r]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/quick.yaml")
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=Path("results/clip_by_probability"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "grainbench")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    suite = load_suite(args.suite, seeds=[0])
    suite = suite.model_copy(update={"algorithms": {"grpo_clip_probe": {"rho": args.rho}, "spo_segment": {"rho": args.rho}},
                                     "baseline": None})
    run_suite(suite, args.out, args.cache, progress=False)
    dirs = {run.label: args.out / "runs" / run.run_id for run in runs_of(suite)}
    probe, spo = dirs["grpo_clip_probe"], dirs["spo_segment"]
    print("| row | tokens the clip fraction counts | mean clip_frac |\n|---|---|---|")
    print(f"| grpo | every response token | {mean_of(probe, 'clip_frac'):.4f} |")
    print(f"| grpo | tokens sampled with p < {args.rho} ({mean_of(probe, 'share_below_rho'):.0%} of them) "
          f"| {mean_of(probe, 'clip_frac_below_rho'):.4f} |")
    print(f"| spo_segment | its loss tokens: cut points, p < {args.rho} | {mean_of(spo, 'clip_frac'):.4f} |")


if __name__ == "__main__":
    main()
