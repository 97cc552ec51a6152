"""VESPO (TRL `loss_type="vespo"`): a smooth, asymmetric weight on the sequence ratio instead of a clip.

w = π_θ(y)/π_old(y), the joint sequence ratio (log clamped to [log 1e-8, 20]); the weight
φ(w) = e^λ·w^k·e^{−λw} (a Gamma-shaped bump with φ(1) = 1 and its peak at w = k/λ) is detached and
scales REINFORCE: loss −φ(w)·A·log π per token, token-mean aggregation. (k, λ) = (2, 3) for A ≥ 0
and (3, 2) for A < 0, TRL's defaults: positive responses are trusted up to w ≈ 0.67, negative
ones up to w ≈ 1.5, and both fade smoothly beyond. At w = 1 it is exactly REINFORCE. No ε: the
suite's trust-region rule does not reach it. `clip_frac` counts tokens whose weight fell below ½.
"""

import math
from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.objective import PolicyGradient
from algorithms.ratios import unit_reduce
from algorithms.units import sequence_units


@register("vespo")
@dataclass
class VESPO(PolicyGradient):
    trust = "gamma weight on the sequence ratio"
    clip: bool = False
    aggregation: str = "token_mean"
    k_pos: float = 2.0
    lambda_pos: float = 3.0
    k_neg: float = 3.0
    lambda_neg: float = 2.0
    unit = "sequence"

    def __post_init__(self):
        super().__post_init__()
        if self.ratio != "token":
            raise ValueError(f"vespo forms its own sequence weight from token log-ratios (ratio: token); got {self.ratio!r}")
        if min(self.k_pos, self.lambda_pos, self.k_neg, self.lambda_neg) <= 0:
            raise ValueError("vespo's k and lambda must be > 0")

    def partition(self, batch):
        return sequence_units(batch.mask)

    def weight(self, logr, batch):
        """φ(w) per token of each response, from the detached joint log-ratio."""
        log_w = unit_reduce(logr.detach().clamp(-20, 20), batch.units, batch.mask, "sum").clamp(math.log(1e-8), 20)
        positive = batch.advantages >= 0
        k = torch.where(positive, self.k_pos, self.k_neg).to(log_w.dtype)
        lam = torch.where(positive, self.lambda_pos, self.lambda_neg).to(log_w.dtype)
        return torch.exp(lam + k * log_w - lam * torch.exp(log_w))

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        phi = self.weight(logr, batch)
        return -phi * batch.advantages * new_logp, phi < 0.5
