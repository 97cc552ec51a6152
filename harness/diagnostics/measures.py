"""The numbers `grainbench diagnose` reports, as functions of tensors: gradient agreement and noise,
and where an algorithm puts its credit relative to a response's first wrong step."""

from __future__ import annotations

import torch
from torch import Tensor


def cosine(a: Tensor, b: Tensor) -> float:
    return float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-30))


def signal_to_noise(gradients: list[Tensor]) -> float:
    """‖mean g‖² / mean ‖g − mean g‖² over minibatch gradients: above 1, one minibatch points the way
    the average does more than it scatters."""
    stacked = torch.stack(gradients)
    mean = stacked.mean(0)
    noise = (stacked - mean).pow(2).sum(1).mean()
    return float(mean.pow(2).sum() / noise.clamp_min(1e-30))


def on_policy_push(algorithm, batch) -> Tensor:
    """(B, T): how hard the algorithm's first update pushes each sampled token's log-prob up (> 0) or
    down (< 0) — −∂loss/∂log π at ratio one, advantage and aggregation weight together."""
    new_logp = batch.old_logp.clone().requires_grad_(True)
    ref = batch.old_logp if algorithm.needs_reference else None  # at ratio one the reference is the policy
    entropy = batch.entropy if algorithm.needs_current_entropy else None
    loss, _ = algorithm.loss(new_logp, batch, ref, new_entropy=entropy)
    (grad,) = torch.autograd.grad(loss, new_logp)
    return -grad * batch.mask


def credit_after_error(push: Tensor, mask: Tensor, first_wrong_token: list[int | None]) -> tuple[float, float]:
    """Over responses with a first wrong token k: the share of the negative push (|push| where push < 0)
    on tokens at or after k, and the share of those responses' tokens at or after k (what credit spread
    evenly would give). NaN when no response has a known error."""
    neg_after = neg_total = tok_after = tok_total = 0.0
    for row, k in enumerate(first_wrong_token):
        if k is None:
            continue
        real = push[row][mask[row]]
        negative = (-real).clamp_min(0)
        neg_after += float(negative[k:].sum())
        neg_total += float(negative.sum())
        tok_after += max(len(real) - k, 0)
        tok_total += len(real)
    nan = float("nan")
    return (neg_after / neg_total if neg_total else nan), (tok_after / tok_total if tok_total else nan)


def token_index_of_char(tokenizer, response_ids: list[int], char: int) -> int:
    """The first token whose decoded text reaches past character `char` of the response (its length if none)."""
    for k in range(len(response_ids)):
        if len(tokenizer.decode(response_ids[: k + 1], skip_special_tokens=True)) > char:
            return k
    return len(response_ids)
