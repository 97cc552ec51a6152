"""DAPO (arXiv 2503.14476; algorithms.md §6).

Clip-higher (ε_low 0.2, ε_high 0.28), token-mean aggregation, no KL, dynamic sampling (groups
whose responses are all right or all wrong carry no signal: they are dropped and the batch is
refilled with fresh prompts, every extra rollout charged to the budget) and soft overlong
shaping: past L_max − L_cache tokens the reward falls linearly to −1 at L_max.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.advantages import OUTCOME_ADVANTAGES, broadcast
from algorithms.objective import PolicyGradient


def overlong_penalty(lengths: torch.Tensor, max_len: int, cache: int) -> torch.Tensor:
    """DAPO Eq. 13: 0 up to L_max − L_cache, then linear down to −1 at L_max (and below past it)."""
    over = lengths.to(torch.float64) - (max_len - cache)
    return torch.where(over > 0, -over / cache, torch.zeros_like(over)).clamp(min=-1.0)


@register("dapo")
@dataclass
class DAPO(PolicyGradient):
    clip_high: float | None = 0.28  # clip-higher is DAPO's own: it holds under either trust region
    aggregation: str = "token_mean"
    overlong_cache: int = 8  # L_cache; the paper's 4,096 of 20,480 is 20 %, ours 8 of 32 tokens
    dynamic_sampling: bool = True
    max_sampling_rounds: int = 3  # rollout batches drawn at most per step to fill it with mixed groups
    paper_clip = (0.2, 0.28)

    def __post_init__(self):
        super().__post_init__()
        if self.overlong_cache < 0 or self.max_sampling_rounds < 1:
            raise ValueError("overlong_cache must be >= 0 and max_sampling_rounds >= 1")

    def keep_group(self, correct: list[bool]) -> bool:
        return not self.dynamic_sampling or 0 < sum(correct) < len(correct)

    def sampling_rounds(self) -> int:
        return self.max_sampling_rounds if self.dynamic_sampling else 1

    def shaped_rewards(self, batch):
        if not self.overlong_cache:
            return batch.rewards
        lengths = batch.mask.sum(dim=1)
        return batch.rewards + overlong_penalty(lengths, batch.max_new_tokens, self.overlong_cache).to(batch.rewards.dtype)

    def token_advantages(self, batch, values):
        rewards = self.shaped_rewards(batch).to(batch.old_logp.dtype)
        return broadcast(OUTCOME_ADVANTAGES[self.advantage](rewards, batch.group), batch.mask)
