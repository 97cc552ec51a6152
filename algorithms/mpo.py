"""MPO: K-token blocks as units of action (arXiv 2602.14386; grainbench's definition, algorithms.md §10).

Non-overlapping blocks of K tokens (the last may be short); block ratio = mean of the block's
token log-ratios (`sum`, the exact joint ratio, as an ablation); the clip decision is shared by
the block; group z-score advantage, or Monte-Carlo values at block starts (`advantage: mc`).

The clip range must follow K: a mean of K log-ratios shrinks like 1/√K, a sum grows like √K, so
ε = ε₁/√|block| (mean) or ε₁·√|block| (sum), ε₁ the token-level value — the suite's `scaled`
trust region, which this definition introduced. K = 1 is then exactly GRPO (β = 0), and K ≥ length
with mean ratio is GSPO under the same rule.
"""

import math
from dataclasses import dataclass

from algorithms import register
from algorithms.advantages import OUTCOME_ADVANTAGES
from algorithms.batch import token_positions
from algorithms.montecarlo import segment_advantages
from algorithms.objective import PolicyGradient
from algorithms.units import block_units


@register("mpo")
@dataclass
class MPO(PolicyGradient):
    k: int = 4
    ratio: str = "mean"
    mc_samples: int = 4  # continuations per block start when advantage = mc
    unit = "block"

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.ratio not in ("mean", "sum"):
            raise ValueError(f"mpo ratio must be mean or sum, got {self.ratio!r}")
        super().__post_init__()

    def paper_epsilons(self):
        """Our definition's own rule, by the nominal K (the `scaled` rule also shrinks the short last block)."""
        scale = 1 / math.sqrt(self.k) if self.ratio == "mean" else math.sqrt(self.k)
        return self.eps_low * scale, self.eps_high * scale

    def advantage_choices(self):
        return (*OUTCOME_ADVANTAGES, "mc")

    def partition(self, batch):
        return block_units(batch.mask, self.k)

    def token_advantages(self, batch, values):
        if self.advantage != "mc":
            return super().token_advantages(batch, values)
        if values is None:
            raise ValueError("mpo with advantage 'mc' needs the harness's value estimator")
        starts = batch.mask & (token_positions(batch.mask) % self.k == 0)
        return segment_advantages(batch, starts, values, self.mc_samples)
