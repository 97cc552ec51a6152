"""Where the importance ratio lives: per token, or shared by a unit.

Each function returns the per-token *log* ratio that the clipped surrogate uses; for unit ratios
every token of a unit carries the unit's value (and its gradient flows to all the unit's tokens),
so the clip decision is shared by the unit (design.md, "The granularity family").
"""

from __future__ import annotations

import torch
from torch import Tensor

RATIOS = ("token", "mean", "sum", "mean_detached", "none")


def unit_reduce(values: Tensor, units: Tensor, mask: Tensor, how: str) -> Tensor:
    """Sum or mean of `values` over each unit, broadcast back to the unit's tokens (0 on padding)."""
    b, t = values.shape
    n_units = int(units.max().item()) + 1 if mask.any() else 1
    idx = units.clamp(min=0)
    v = torch.where(mask, values, torch.zeros_like(values))
    sums = torch.zeros(b, n_units, dtype=values.dtype, device=values.device).scatter_add(1, idx, v)
    if how == "mean":
        counts = torch.zeros(b, n_units, dtype=values.dtype, device=values.device).scatter_add(1, idx, mask.to(values.dtype))
        sums = sums / counts.clamp(min=1)
    elif how != "sum":
        raise ValueError(f"unit reduction must be 'sum' or 'mean', got {how!r}")
    out = torch.gather(sums, 1, idx)
    return torch.where(mask, out, torch.zeros_like(out))


def unit_sizes(units: Tensor, mask: Tensor) -> Tensor:
    """|u| of the unit each token belongs to (0 on padding)."""
    return unit_reduce(mask.to(torch.float64), units, mask, "sum")


def log_ratio(new_logp: Tensor, old_logp: Tensor, units: Tensor, mask: Tensor, kind: str) -> Tensor:
    """Per-token log importance ratio for ratio `kind`.

    token: λ_t. mean / sum: the unit's mean / sum of λ (GSPO, SAPO, MPO). mean_detached: GSPO-token,
    value of the unit mean but gradient of each token's own log-prob. none: REINFORCE, value 0
    (ratio 1) with the gradient of log π kept.
    """
    lam = torch.where(mask, new_logp - old_logp, torch.zeros_like(new_logp))
    if kind == "token":
        return lam
    if kind in ("mean", "sum"):
        return unit_reduce(lam, units, mask, kind)
    if kind == "mean_detached":
        own = torch.where(mask, new_logp - new_logp.detach(), torch.zeros_like(new_logp))
        return unit_reduce(lam, units, mask, "mean").detach() + own
    if kind == "none":
        return torch.where(mask, new_logp - new_logp.detach(), torch.zeros_like(new_logp))
    raise ValueError(f"unknown ratio kind {kind!r}; valid: {', '.join(RATIOS)}")
