"""GMPO, Geometric-Mean Policy Optimization (arXiv 2507.20673, code callsys/GMPO; verl `geo_mean`).

One unit per response whose ratio is the geometric mean of its token ratios, like GSPO, but the
clip acts on each token's log-ratio *before* the mean and is sign-aware: with s = sign(A),
λ̃_t = s·min(s·λ_t, s·clip(λ_t, −ε_low, ε_high)), r = exp(mean_t λ̃_t), loss −A·r per response
(each response counted once). A token outside the range stops contributing gradient only in the
direction the advantage would push it further. ε acts on log-ratios per token, so the `scaled` rule
gives ε₁ (no √|u|); the paper's wider range is ±0.4.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.objective import LOG_RATIO_LIMIT, PolicyGradient
from algorithms.ratios import unit_reduce
from algorithms.units import sequence_units


@register("gmpo")
@dataclass
class GMPO(PolicyGradient):
    trust = "sign-aware clip of token log-ratios"
    unit = "sequence"
    paper_clip = (0.4, 0.4)

    def __post_init__(self):
        super().__post_init__()
        if self.ratio != "token":
            raise ValueError(f"gmpo clips token log-ratios before their mean (ratio: token); got {self.ratio!r}")

    def partition(self, batch):
        return sequence_units(batch.mask)

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        adv = batch.advantages
        eps_low, eps_high = self.epsilons(batch)
        clamped = torch.clamp(logr, -eps_low, eps_high)
        sign = torch.sign(adv)
        kept = sign * torch.minimum(sign * logr, sign * clamped)
        mean = unit_reduce(kept, batch.units, batch.mask, "mean").clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
        active = (sign * (logr - clamped) > 0) & batch.mask  # clipped where the advantage pushes
        return -adv * torch.exp(mean), active
