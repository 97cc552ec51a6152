"""Outcome advantages computed within each group of responses to one prompt.

Each returns a (B,) tensor, later broadcast to every token of the response.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _group_stats(values: Tensor, group: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row group count, mean and (unbiased) std of `values`."""
    _, inverse = torch.unique(group, return_inverse=True)
    n_groups = int(inverse.max().item()) + 1
    count = torch.zeros(n_groups, dtype=values.dtype).scatter_add(0, inverse, torch.ones_like(values))
    total = torch.zeros(n_groups, dtype=values.dtype).scatter_add(0, inverse, values)
    mean = total / count
    sq = torch.zeros(n_groups, dtype=values.dtype).scatter_add(0, inverse, (values - mean[inverse]) ** 2)
    std = torch.sqrt(sq / (count - 1).clamp(min=1))
    return count[inverse], mean[inverse], std[inverse]


def group_zscore(rewards: Tensor, group: Tensor, eps: float = 1e-6) -> Tensor:
    """GRPO: (r − mean) / (std + eps) within the group; all-equal groups get 0."""
    _, mean, std = _group_stats(rewards, group)
    return (rewards - mean) / (std + eps)


def group_mean_baseline(rewards: Tensor, group: Tensor) -> Tensor:
    """Dr. GRPO: r − mean(r) over the group."""
    _, mean, _ = _group_stats(rewards, group)
    return rewards - mean


def leave_one_out(rewards: Tensor, group: Tensor) -> Tensor:
    """RLOO: r − mean of the *other* responses of the group (= G/(G−1) · (r − mean))."""
    count, mean, _ = _group_stats(rewards, group)
    return (rewards - mean) * count / (count - 1).clamp(min=1)


OUTCOME_ADVANTAGES = {"zscore": group_zscore, "mean": group_mean_baseline, "rloo": leave_one_out}


def broadcast(per_response: Tensor, mask: Tensor) -> Tensor:
    """Give every real token of a response that response's advantage (0 on padding)."""
    return per_response[:, None] * mask.to(per_response.dtype)
