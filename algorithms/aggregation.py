"""How per-token loss terms become one scalar: an axis of its own (after verl's `agg_loss`).

Each aggregation is a sum over the batch divided by a count (responses or tokens). Keeping the two
apart lets a data-parallel or gradient-accumulated update divide every shard's sum by the count of
the *whole* minibatch, so the update does not depend on how the minibatch was split — the
loss-normalisation bug that trainers which average per-shard means have.
"""

from __future__ import annotations

from torch import Tensor

AGGREGATIONS = ("seq_mean_token_mean", "token_mean", "constant", "seq_mean_token_sum")


def aggregate_parts(per_token: Tensor, mask: Tensor, how: str, max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """(sum, count) of the aggregation over these rows; the loss is sum / count."""
    m = mask.to(per_token.dtype)
    total = (per_token * m).sum(dim=1)
    rows = per_token.new_tensor(float(per_token.shape[0]))
    if how == "seq_mean_token_mean":  # GRPO / GSPO: mean over each response's tokens, then over responses
        return (total / m.sum(dim=1).clamp(min=1)).sum(), rows
    if how == "token_mean":  # DAPO: every token of the batch counts the same
        return total.sum(), m.sum()
    if how == "seq_mean_token_sum":  # LUSPO: each response's token sum, mean over responses (length-weighted)
        return total.sum(), rows
    if how == "constant":  # Dr. GRPO: divide by G · L_max, no length bias
        if not max_len:
            raise ValueError("constant aggregation needs max_len")
        return total.sum() / max_len, rows
    raise ValueError(f"unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS)}")


def aggregate(per_token: Tensor, mask: Tensor, how: str, max_len: int | None = None, count: Tensor | float | None = None) -> Tensor:
    """The aggregated loss; `count` replaces this batch's own count (that of the whole minibatch
    when this is one shard of it)."""
    total, own = aggregate_parts(per_token, mask, how, max_len)
    return total / (own.clamp(min=1) if count is None else max(float(count), 1.0))
