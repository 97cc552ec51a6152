"""Monte-Carlo value advantages at unit boundaries (SPO-chain, 2505.23564 §4; MPO's "mc" option).

V̂(s) is the mean reward of N continuations sampled from prefix s; a segment's advantage is
V̂(end) − V̂(start), shared by its tokens. The value after the last token is the response's own
reward. The value of the bare prompt needs no extra rollouts: the other G−1 responses of the group
are N-sample continuations of exactly that state, so their mean reward (leave-one-out, independent
of this response) is used.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algorithms.batch import RolloutBatch, token_positions


def prompt_values(rewards: Tensor, group: Tensor) -> Tensor:
    """Leave-one-out group mean reward: V̂(prompt) for each response."""
    same = group[:, None] == group[None, :]
    others = same & ~torch.eye(len(group), dtype=torch.bool)
    count = others.sum(dim=1).clamp(min=1)
    return (others.to(rewards.dtype) @ rewards) / count


def segment_advantages(batch: RolloutBatch, starts: Tensor, values, n: int) -> Tensor:
    """(B, T) advantages for segments opening at `starts`, valued by `values(prefixes, n)`.

    A start at response position p > 0 is valued at the prefix of p tokens (the state before the
    token); position 0 is the prompt.
    """
    pos = token_positions(batch.mask)
    flags = starts & batch.mask & (pos > 0)
    rows, cols = torch.nonzero(flags, as_tuple=True)
    prefixes = [(int(r), int(pos[r, c])) for r, c in zip(rows, cols)]
    estimated = values(prefixes, n) if prefixes else torch.empty(0)
    v0 = prompt_values(batch.rewards.to(batch.old_logp.dtype), batch.group)
    adv = torch.zeros_like(batch.old_logp)
    by_row: dict[int, list[tuple[int, float]]] = {}
    for (r, p), v in zip(prefixes, estimated.tolist()):
        by_row.setdefault(r, []).append((p, v))
    lengths = batch.mask.sum(dim=1).tolist()
    for r, length in enumerate(lengths):
        points = [(0, float(v0[r]))] + sorted(by_row.get(r, [])) + [(length, float(batch.rewards[r]))]
        for (start, v_start), (end, v_end) in zip(points, points[1:]):
            adv[r, (pos[r] >= start) & (pos[r] < end)] = v_end - v_start
    return torch.where(batch.mask, adv, torch.zeros_like(adv))


def whiten(values: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Zero-mean, unit-variance over the masked entries of the whole batch (SPO's code does this)."""
    v = values[mask]
    if v.numel() < 2:
        return values
    return torch.where(mask, (values - v.mean()) / (v.std() + eps), torch.zeros_like(values))
