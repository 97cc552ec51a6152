"""How per-token loss terms become one scalar: an axis of its own (after verl's `agg_loss`)."""

from __future__ import annotations

from torch import Tensor

AGGREGATIONS = ("seq_mean_token_mean", "token_mean", "constant")


def aggregate(per_token: Tensor, mask: Tensor, how: str, max_len: int | None = None) -> Tensor:
    m = mask.to(per_token.dtype)
    total = (per_token * m).sum(dim=1)
    if how == "seq_mean_token_mean":  # GRPO / GSPO: mean over each response's tokens, then over responses
        return (total / m.sum(dim=1).clamp(min=1)).mean()
    if how == "token_mean":  # DAPO: every token of the batch counts the same
        return total.sum() / m.sum().clamp(min=1)
    if how == "constant":  # Dr. GRPO: divide by G · L_max, no length bias
        if not max_len:
            raise ValueError("constant aggregation needs max_len")
        return total.sum() / (per_token.shape[0] * max_len)
    raise ValueError(f"unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS)}")
