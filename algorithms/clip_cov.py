"""Clip-Cov (arXiv 2505.22617, code PRIME-RL/Entropy-Mechanism-of-RL; verl `clip_cov`).

PPO's clipped token surrogate, plus: among the tokens the clip left alone, those whose
advantage–log-prob covariance lies in (lb, ub) are candidates, and a random `clip_cov_ratio` share of
the batch's tokens (at least one) drawn from them lose their gradient. It stops the few tokens that
drive entropy collapse from updating. Defaults are the paper's: ratio 2e-4, bounds (1, 5),
token-mean aggregation. The draw is seeded from the batch's token count, so runs repeat exactly;
the statistic is over the (mini)batch a process holds, as in verl. `clip_frac` counts clipped and
cov-masked tokens together.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.covariance import selected_count, token_covariance
from algorithms.objective import PolicyGradient


@register("clip_cov")
@dataclass
class ClipCov(PolicyGradient):
    trust = "clip + covariance mask"
    aggregation: str = "token_mean"
    clip_cov_ratio: float = 2e-4
    clip_cov_lb: float = 1.0
    clip_cov_ub: float = 5.0

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.clip_cov_ratio < 1 or self.clip_cov_lb >= self.clip_cov_ub:
            raise ValueError("clip_cov needs 0 < clip_cov_ratio < 1 and clip_cov_lb < clip_cov_ub")

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        per_token, clipped = super().surrogate(logr, new_logp, batch, new_entropy)
        lmask = batch.loss_mask if batch.loss_mask is not None else batch.mask
        cov = token_covariance(batch.advantages, new_logp.detach(), lmask)
        candidates = torch.nonzero(lmask & ~clipped & (cov > self.clip_cov_lb) & (cov < self.clip_cov_ub))
        draw = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(int(lmask.sum())))
        chosen = candidates[draw[:selected_count(lmask, self.clip_cov_ratio)].to(candidates.device)]
        masked = torch.zeros_like(lmask)
        masked[chosen[:, 0], chosen[:, 1]] = True
        return torch.where(masked, torch.zeros_like(per_token), per_token), clipped | masked
