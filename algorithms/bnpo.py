"""BNPO, Beta-Normalised Policy Optimization (arXiv 2506.02864, code changyi7231/BNPO).

With binary rewards a prompt's responses are Bernoulli(p). BNPO normalises the advantage by a Beta
density instead of the group's standard deviation: A = (r − p̂)/Beta(p̂; α, β), p̂ the group's mean
reward, with α, β fitted to the batch's p̂ by the method of moments (so the normaliser follows the
difficulty distribution as training moves it). Token ratio and clip otherwise, as in GRPO. Not TRL's
`loss_type="bnpo"`, which is only a token-mean loss normaliser (our `token_mean` aggregation).

What is reconstructed: the paper fits α, β to the running distribution of p; here each batch's groups
are the sample, with both parameters floored at `min_shape` so a batch of near-identical p̂ cannot
give a degenerate density.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.advantages import _group_stats, broadcast
from algorithms.objective import PolicyGradient


def beta_moments(p: torch.Tensor, floor: float) -> tuple[float, float]:
    """Method-of-moments (α, β) of values in [0, 1]: mean m, variance v, α = m·c, β = (1−m)·c with c = m(1−m)/v − 1."""
    m, v = float(p.mean()), float(p.var(unbiased=False)) if p.numel() > 1 else 0.0
    if v <= 0 or not 0 < m < 1:
        return floor, floor
    c = m * (1 - m) / v - 1
    return max(m * c, floor), max((1 - m) * c, floor)


def beta_normalised(rewards: torch.Tensor, group: torch.Tensor, floor: float) -> torch.Tensor:
    _, p, _ = _group_stats(rewards, group)
    per_group = torch.stack([p[group == g][0] for g in torch.unique(group)])
    alpha, beta = beta_moments(per_group, floor)
    density = torch.distributions.Beta(alpha, beta).log_prob(p.clamp(1e-6, 1 - 1e-6)).exp()
    return (rewards - p) / density


@register("bnpo")
@dataclass
class BNPO(PolicyGradient):
    advantage: str = "beta"
    min_shape: float = 1.0

    def advantage_choices(self):
        return ("beta",)

    def token_advantages(self, batch, values):
        return broadcast(beta_normalised(batch.rewards.to(batch.old_logp.dtype), batch.group, self.min_shape), batch.mask)
