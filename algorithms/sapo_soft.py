"""SAPO, Soft Adaptive Policy Optimization (Qwen, arXiv 2511.20347; TRL `loss_type="sapo"`, verl `sapo`).

No hard clip: the ratio passes through a sigmoid gate, loss −f(r)·A with f(x) = σ(τ(x − 1))·4/τ,
τ = τ_pos when A > 0 and τ_neg otherwise (negative advantages are damped a little harder). f'(1) = 1,
so at r = 1 the gradient is exactly REINFORCE's, and it fades smoothly as r leaves 1 instead of
stopping at 1 ± ε. The ratio is the token's (default) or the response's geometric mean
(`ratio: mean`, TRL's `importance_sampling_level="sequence"`).

This is not `sapo_segment` (SAPO of arXiv 2509.xxxx in algorithms.md: segment-aligned units, hard
clip): the same acronym, another method. The gate has no ε, so the suite's trust-region rule does not
scale it; τ is the method's own. `clip_frac` counts the tokens whose gradient the gate has more than
halved (f'(r) < ½).
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.objective import LOG_RATIO_LIMIT, PolicyGradient
from algorithms.units import sequence_units, token_units


@register("sapo_soft")
@dataclass
class SAPOSoft(PolicyGradient):
    trust = "sigmoid gate"
    clip: bool = False
    tau_pos: float = 1.0
    tau_neg: float = 1.05

    def __post_init__(self):
        super().__post_init__()
        if self.ratio not in ("token", "mean"):
            raise ValueError(f"sapo_soft's ratio is per token or the response's geometric mean (token, mean); got {self.ratio!r}")
        if self.tau_pos <= 0 or self.tau_neg <= 0:
            raise ValueError("tau_pos and tau_neg must be > 0")

    def partition(self, batch):
        return token_units(batch.mask) if self.ratio == "token" else sequence_units(batch.mask)

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        ratio = torch.exp(logr.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))
        adv = batch.advantages
        tau = torch.where(adv > 0, self.tau_pos, self.tau_neg).to(ratio.dtype)
        gate = torch.sigmoid(tau * (ratio - 1))
        slope = 4 * gate * (1 - gate)  # f'(r): 1 at r = 1
        return -gate * 4 / tau * adv, slope.detach() < 0.5
