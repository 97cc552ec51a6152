"""Partitions: map each response token to its unit of action.

A partition returns a (B, T) long tensor of unit indices (0, 1, ... within each response; -1 on
padding). Units are contiguous runs of tokens. token: K=1; block(K): K tokens, the last block may be
short; sequence: one unit. Segment partitions (cut points, entropy) live with the algorithms that
define them and return the same shape.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algorithms.batch import token_positions


def token_units(mask: Tensor) -> Tensor:
    return token_positions(mask)


def block_units(mask: Tensor, k: int) -> Tensor:
    if k < 1:
        raise ValueError(f"block size k must be >= 1, got {k}")
    pos = token_positions(mask)
    return torch.where(mask, torch.div(pos, k, rounding_mode="floor"), pos)


def sequence_units(mask: Tensor) -> Tensor:
    return torch.where(mask, torch.zeros_like(mask, dtype=torch.long), torch.full_like(mask, -1, dtype=torch.long))


def units_from_ends(mask: Tensor, is_end: Tensor) -> Tensor:
    """Units that close at every token flagged in `is_end` (the last real token always closes one)."""
    ends = is_end & mask
    # A unit's index = number of ends strictly before this token.
    before = torch.cumsum(ends.long(), dim=1) - ends.long()
    return torch.where(mask, before, torch.full_like(before, -1))


def units_from_starts(mask: Tensor, is_start: Tensor) -> Tensor:
    """Units that open at every token flagged in `is_start` (the first real token always opens one)."""
    starts = is_start & mask
    first = token_positions(mask) == 0
    idx = torch.cumsum((starts & ~first).long(), dim=1)
    return torch.where(mask, idx, torch.full_like(idx, -1))
