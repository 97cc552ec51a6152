"""Variable segment partitions: SPO's probability cut points and SAPO's entropy ends.

Both return flags over (B, T) response tokens that `units.units_from_starts` / `units_from_ends`
turn into unit indices, so segments plug into the same ratio and advantage pieces as blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algorithms.batch import token_positions


def cutpoints(old_logp: Tensor, mask: Tensor, rho: float) -> Tensor:
    """SPO cut points: tokens the sampler chose with probability below `rho` (2505.23564 §4)."""
    return mask & (old_logp < torch.log(torch.tensor(rho, dtype=old_logp.dtype)))


def cutpoint_segment_starts(old_logp: Tensor, mask: Tensor, rho: float, interval: int) -> Tensor:
    """SPO-chain boundaries: every `interval`-th cut point opens a segment (the 1st, the (1+interval)-th, ...).

    As in the authors' code, the boundary state is the prefix just *before* the cut-point token,
    so each segment starts at a cut point.
    """
    if interval < 1:
        raise ValueError(f"cut-point interval must be >= 1, got {interval}")
    cuts = cutpoints(old_logp, mask, rho)
    rank = torch.cumsum(cuts.long(), dim=1) - 1  # 0 for the first cut point of each row
    return cuts & (rank % interval == 0)


def entropy_segment_ends(entropy: Tensor, mask: Tensor, top_frac: float) -> Tensor:
    """SAPO: the top `top_frac` highest-entropy tokens of each response end a segment, and so does
    its last token (2605.01327 §4.2). At least one token per response is picked (ceil)."""
    if not 0 < top_frac <= 1:
        raise ValueError(f"top_frac must be in (0, 1], got {top_frac}")
    lengths = mask.sum(dim=1)
    k = torch.ceil(lengths.to(torch.float64) * top_frac).long()
    masked = torch.where(mask, entropy, torch.full_like(entropy, float("-inf")))
    # rank of each token by entropy within its row (0 = highest); ties broken by position
    order = torch.argsort(masked, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1]).expand_as(order).contiguous())
    top = mask & (rank < k[:, None])
    last = token_positions(mask) == (lengths - 1)[:, None]
    return top | (last & mask)
