"""HAPO, Heterogeneous Adaptive Policy Optimization (arXiv 2509.16591, code starriver030515/HAPO).

Token entropy drives the update. On the DAPO recipe (dynamic sampling, soft overlong shaping,
token-mean aggregation; ε 0.2/0.2 — no clip-higher), per minibatch:
- entropy score ĥ ∈ [−1, 1]: the current policy's log-entropy of each token minus its `entropy_pivot`
  quantile (0.8) over the minibatch, divided by its root-mean-square, then each side divided by its
  largest magnitude;
- asymmetric adaptive clip (`adaptive_clip`): a low-entropy token (ĥ ≤ 0) gets ε_low·(1 − α·ĥ), a
  wider lower bound to shed noise; a high-entropy token (ĥ > 0) ε_high·(1 + α·ĥ), room to explore;
- differential advantage (`adaptive_advantage`): A·(1 + β·ĥ) on a high-entropy token whose ratio has
  left the neutral zone (1 − ε_low/2, 1 + ε_high/2), and on a low-entropy token inside it; A elsewhere;
- token-level group normalisation (`advantage: token_group`): the group's mean and standard deviation
  taken over its tokens (longer responses weigh more), falling back to GRPO's z-score for a group
  where that gives |A| ≥ 5.
Defaults are the released recipe's (pivot 0.8, α = β = 1).

What differs from the released code, and why: its negative side divides ĥ by a negative minimum,
which makes every ĥ ≥ 0; the paper describes a signed score (low-entropy tokens below zero), which
is what is built here. Its rollout-side adaptive temperature and verl's dual clip are not part of the
objective and are left out, as for every algorithm here.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.advantages import OUTCOME_ADVANTAGES, broadcast, group_zscore
from algorithms.dapo import DAPO
from algorithms.objective import LOG_RATIO_LIMIT, _loss_mask, ppo_clip

OUTLIER = 5.0  # the source's |A| at which token-level normalisation gives way to the z-score


def entropy_scores(entropy: torch.Tensor, mask: torch.Tensor, pivot: float, eps: float = 1e-8) -> torch.Tensor:
    """ĥ ∈ [−1, 1] per token: log-entropy centred on its `pivot` quantile, scaled by its RMS, then per side by its extreme."""
    log_ent = torch.log(entropy.clamp_min(eps))
    centre = torch.quantile(log_ent[mask], pivot, interpolation="nearest") if mask.any() else log_ent.new_zeros(())
    h = torch.where(mask, log_ent - centre, torch.zeros_like(log_ent))
    h = h / (h.pow(2).sum() / mask.sum().clamp(min=1)).clamp_min(eps).sqrt()
    top, bottom = h.max().clamp_min(eps), h.min().clamp_max(-eps)
    return torch.where(h > 0, h / top, h / -bottom)


def token_group_normalised(rewards: torch.Tensor, group: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(r − μ_g)/(σ_g + eps) with μ_g, σ_g (population) over the group's tokens; z-score for a group with an outlier."""
    out = group_zscore(rewards, group, eps)
    for g in torch.unique(group):
        rows = group == g
        weights = lengths[rows].to(rewards.dtype)
        mean = (rewards[rows] * weights).sum() / weights.sum()
        std = (((rewards[rows] - mean) ** 2 * weights).sum() / weights.sum()).sqrt()
        normed = (rewards[rows] - mean) / (std + eps)
        if normed.abs().max() < OUTLIER:
            out[rows] = normed
    return out


@register("hapo")
@dataclass
class HAPO(DAPO):
    trust = "entropy-adaptive clip"
    clip_high: float | None = None
    advantage: str = "token_group"
    entropy_pivot: float = 0.8
    adaptive_clip: bool = True
    clip_alpha: float = 1.0
    adaptive_advantage: bool = True
    adv_beta: float = 1.0
    paper_clip = (0.2, 0.2)
    needs_current_entropy = True

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.entropy_pivot <= 1 or self.clip_alpha < 0 or self.adv_beta < 0:
            raise ValueError("hapo needs 0 <= entropy_pivot <= 1, clip_alpha >= 0 and adv_beta >= 0")

    def advantage_choices(self):
        return ("token_group", *OUTCOME_ADVANTAGES)

    def token_advantages(self, batch, values):
        if self.advantage != "token_group":
            return super().token_advantages(batch, values)
        rewards = self.shaped_rewards(batch).to(batch.old_logp.dtype)
        return broadcast(token_group_normalised(rewards, batch.group, batch.mask.sum(dim=1)), batch.mask)

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        if new_entropy is None:
            raise ValueError("hapo needs the current policy's token entropies")
        h = entropy_scores(new_entropy.to(logr.dtype), _loss_mask(batch), self.entropy_pivot)
        eps_low, eps_high = self.epsilons(batch)
        if self.adaptive_clip:
            eps_low = torch.where(h <= 0, eps_low * (1 - self.clip_alpha * h), eps_low)
            eps_high = torch.where(h > 0, eps_high * (1 + self.clip_alpha * h), eps_high)
        ratio = torch.exp(logr.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))
        adv = batch.advantages
        if self.adaptive_advantage:
            neutral = (ratio.detach() > 1 - eps_low / 2) & (ratio.detach() < 1 + eps_high / 2)
            reweighted = adv * (1 + self.adv_beta * h)
            adv = torch.where((h > 0) != neutral, reweighted, adv)
        return ppo_clip(ratio, adv, eps_low, eps_high)
