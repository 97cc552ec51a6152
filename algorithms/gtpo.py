"""GTPO, Group-relative Trajectory-based Policy Optimization (arXiv 2508.03772, code winstonsmith1897/GTPO).

Responses of one group that got opposite rewards often share tokens at the same places — the
problem restated, the format, the closing words. GRPO then pushes such a token up in one response
and down in the other. GTPO finds these *conflict tokens* and treats them asymmetrically:
- a token is in conflict when a positive- and a negative-advantage response of its group both hold
  the same id at the same position, counted from the start (the leading run of such positions) and,
  separately, from the end (the trailing run);
- in a positive response a conflict token's advantage is multiplied by `conflict_weight` (2) per
  run it is in; in a negative one it is 0 — its shared tokens are protected from the penalty;
- each response's loss is divided by its number of conflict tokens (at least 1), as in the source;
- entropy filter: a response whose mean token entropy under the behaviour policy exceeds
  `entropy_threshold` (0.7 nats) gets advantage 0; the others get A − `entropy_scale`·H (0.1).
No KL (the paper drops it). The source's loss has ratio 1 (one update per batch); here the token
ratio and the suite's clip carry the same loss to further minibatch updates, as for every
algorithm: on the first update the two coincide. Group z-score advantage, sequence-mean of
token-means, as in the source.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.advantages import OUTCOME_ADVANTAGES
from algorithms.batch import token_values_by_group
from algorithms.objective import PolicyGradient


def _leading_conflicts(rows: list[list[int]], positive: list[bool], negative: list[bool]) -> list[list[bool]]:
    """Per row, per token: inside the leading run of positions where a positive and a negative row share the id."""
    length = max(map(len, rows), default=0)
    shared = []
    for j in range(length):
        ids_pos = {r[j] for r, p in zip(rows, positive) if p and j < len(r)}
        ids_neg = {r[j] for r, n in zip(rows, negative) if n and j < len(r)}
        shared.append(ids_pos & ids_neg)
    out = []
    for r, active in zip(rows, (p or n for p, n in zip(positive, negative))):
        flags, running = [], active
        for j, token in enumerate(r):
            running = running and token in shared[j]
            flags.append(running)
        out.append(flags)
    return out


def conflict_weights(rows: list[list[int]], advantages: list[float], weight: float) -> tuple[list[list[float]], list[int]]:
    """Per-token factors δ for one group (weight per run on a positive row, 0 on a negative one, else 1)
    and each row's conflict-token count."""
    positive, negative = [a > 0 for a in advantages], [a < 0 for a in advantages]
    forward = _leading_conflicts(rows, positive, negative)
    backward = [flags[::-1] for flags in _leading_conflicts([r[::-1] for r in rows], positive, negative)]
    deltas, counts = [], []
    for pos, fwd, bwd in zip(positive, forward, backward):
        factor = weight if pos else 0.0
        deltas.append([(factor if f else 1.0) * (factor if b else 1.0) for f, b in zip(fwd, bwd)])
        counts.append(sum(f or b for f, b in zip(fwd, bwd)))
    return deltas, counts


@register("gtpo")
@dataclass
class GTPO(PolicyGradient):
    conflict_weight: float = 2.0
    entropy_threshold: float = 0.7
    entropy_scale: float = 0.1
    needs_entropy = True

    def __post_init__(self):
        super().__post_init__()
        if self.conflict_weight < 0 or self.entropy_threshold <= 0 or self.entropy_scale < 0:
            raise ValueError("gtpo needs conflict_weight >= 0, entropy_threshold > 0 and entropy_scale >= 0")

    def token_advantages(self, batch, values):
        if batch.entropy is None:
            raise ValueError("gtpo needs the behaviour policy's token entropies")
        dtype, mask = batch.old_logp.dtype, batch.mask
        outcome = OUTCOME_ADVANTAGES[self.advantage](batch.rewards.to(dtype), batch.group)

        def factors_of(members, rows):  # δ over the response's conflict count
            deltas, counts = conflict_weights(rows, [float(outcome[i]) for i in members], self.conflict_weight)
            return [[d / max(count, 1) for d in delta] for delta, count in zip(deltas, counts)]

        factors = token_values_by_group(batch.response_ids, mask, batch.group, factors_of).to(dtype)
        mean_entropy = (batch.entropy.to(dtype) * mask).sum(1) / mask.sum(1).clamp(min=1)
        shaped = torch.where(mean_entropy <= self.entropy_threshold, outcome - self.entropy_scale * mean_entropy,
                             torch.zeros_like(outcome))
        return shaped[:, None] * factors.to(batch.old_logp.device)
