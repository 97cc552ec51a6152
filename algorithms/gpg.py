"""GPG, Group Policy Gradient (AMAP, arXiv 2504.02546; verl `gpg`).

Plain REINFORCE on the policy itself, no ratio, no clip, no KL: loss −log π·A, token-mean
aggregation. Its advantage is the group-mean baseline rescaled for the batch's dead groups:
A = (r − mean_group r)·B / #{responses with A ≠ 0}, so that groups whose responses all agree (zero
advantage) do not dilute the gradient of the rest. Being ratio-free it is on-policy: one update per
rollout batch, like `token_pg` (the leaderboard's `updates` column says so).
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.advantages import broadcast, group_mean_baseline
from algorithms.objective import PolicyGradient


def gpg_advantages(rewards, group):
    """(r − group mean)·B/#nonzero: the batch's informative responses carry the whole batch's weight."""
    adv = group_mean_baseline(rewards, group)
    informative = int((adv != 0).sum())
    return adv * (adv.numel() / informative) if informative else adv


@register("gpg")
@dataclass
class GPG(PolicyGradient):
    ratio: str = "none"
    clip: bool = False
    advantage: str = "gpg"
    aggregation: str = "token_mean"
    on_policy_only = True

    def advantage_choices(self):
        return ("gpg",)

    def token_advantages(self, batch, values):
        return broadcast(gpg_advantages(batch.rewards.to(batch.old_logp.dtype), batch.group), batch.mask)

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        return -new_logp * batch.advantages, torch.zeros_like(batch.mask)
