"""The token statistic of Clip-Cov and KL-Cov (Cui et al., "The Entropy Mechanism of RL for Reasoning
LMs", arXiv 2505.22617): the centred product of a token's advantage and its log-prob over the whole
(mini)batch. Tokens with a large positive value are the ones whose updates collapse entropy fastest.
"""

from __future__ import annotations

import torch
from torch import Tensor


def token_covariance(advantages: Tensor, logp: Tensor, mask: Tensor) -> Tensor:
    """(A − mean A)·(log π − mean log π) per token, means over the masked tokens; −inf on padding."""
    m = mask.to(logp.dtype)
    n = m.sum().clamp(min=1)
    adv_mean = (advantages * m).sum() / n
    logp_mean = (logp * m).sum() / n
    cov = (advantages - adv_mean) * (logp - logp_mean)
    return torch.where(mask, cov, torch.full_like(cov, -torch.inf))


def selected_count(mask: Tensor, ratio: float) -> int:
    """How many tokens a ratio of the batch's tokens is: at least one."""
    return max(int(ratio * int(mask.sum())), 1)
