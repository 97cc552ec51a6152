"""KL-Cov (arXiv 2505.22617, code PRIME-RL/Entropy-Mechanism-of-RL; verl `kl_cov`).

The unclipped token surrogate −A·r, and on the `kl_cov_ratio` share of the batch's tokens (at least
one) with the largest advantage–log-prob covariance an added penalty `kl_coef_cov`·|log r|, which
holds exactly those tokens near the sampling policy. No clip: the penalty is the whole trust region,
so the suite's ε does not reach it. Defaults are the paper's: ratio 2e-4, coefficient 1, token-mean
aggregation. `clip_frac` counts the penalised tokens.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.covariance import selected_count, token_covariance
from algorithms.objective import PolicyGradient


@register("kl_cov")
@dataclass
class KLCov(PolicyGradient):
    trust = "|log r| penalty on top-covariance tokens"
    clip: bool = False
    aggregation: str = "token_mean"
    kl_cov_ratio: float = 2e-4
    kl_coef_cov: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.ratio != "token" or not 0 < self.kl_cov_ratio < 1 or self.kl_coef_cov < 0:
            raise ValueError("kl_cov needs ratio: token, 0 < kl_cov_ratio < 1 and kl_coef_cov >= 0")

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        per_token, _ = super().surrogate(logr, new_logp, batch, new_entropy)
        lmask = batch.loss_mask if batch.loss_mask is not None else batch.mask
        cov = token_covariance(batch.advantages, new_logp.detach(), lmask).flatten()
        top = torch.topk(cov, min(selected_count(lmask, self.kl_cov_ratio), int(lmask.sum()))).indices
        penalised = torch.zeros_like(lmask).flatten()
        penalised[top] = True
        penalised = penalised.view_as(lmask)
        return torch.where(penalised, per_token + self.kl_coef_cov * logr.abs(), per_token), penalised
