"""The rollout batch: what an engine sampled, as tensors the objectives read.

It lives here, with its consumer, so `algorithms/` stays free of the harness. Every tensor is
(B, T) over *response* tokens: row i is one sampled response, `mask` marks its real tokens. Rows may
be padded left or right; the pieces locate tokens through `mask` alone, so padding never matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor


@dataclass
class RolloutBatch:
    response_ids: Tensor  # (B, T) long; any pad id where mask is 0
    mask: Tensor  # (B, T) bool: real response tokens
    old_logp: Tensor  # (B, T) behaviour log-probs of the sampled tokens
    rewards: Tensor  # (B,) scalar reward per response
    group: Tensor  # (B,) long: responses to the same prompt share a group id
    max_new_tokens: int  # the generation limit (Dr. GRPO's constant normaliser)
    entropy: Tensor | None = None  # (B, T) behaviour entropy per token, where an algorithm needs it
    # Filled by Algorithm.prepare:
    advantages: Tensor | None = None  # (B, T)
    units: Tensor | None = None  # (B, T) long unit index within each response; -1 on padding
    loss_mask: Tensor | None = None  # (B, T) bool: tokens that enter the policy loss
    extras: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.rewards.shape[0]

    def to(self, device) -> "RolloutBatch":
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self) if isinstance(getattr(self, f.name), Tensor)}
        return replace(self, **moved, extras={k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.extras.items()})

    def select(self, index: Tensor) -> "RolloutBatch":
        """Rows `index` of every (B, ...) tensor: a minibatch."""
        picked = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor) and value.dim() >= 1 and value.shape[0] == self.size:
                picked[f.name] = value[index]
        return replace(self, **picked)


def token_values_by_group(response_ids: Tensor, mask: Tensor, group: Tensor, values) -> Tensor:
    """(B, T) float64 per-token values computed a group at a time: `values(members, rows)` gets the
    group's row indices and their real token ids (lists) and returns each member's per-token values;
    0 on padding. For statistics over a group's token ids (KTAE's key tokens, GTPO's conflicts)."""
    rows = [ids[m].tolist() for ids, m in zip(response_ids, mask)]
    out = torch.zeros(mask.shape, dtype=torch.float64)
    for g in torch.unique(group).tolist():
        members = (group == g).nonzero().flatten().tolist()
        for i, row_values in zip(members, values(members, [rows[i] for i in members])):
            out[i, mask[i]] = torch.tensor(row_values, dtype=torch.float64)
    return out


def token_positions(mask: Tensor) -> Tensor:
    """Index of each token within its response (0, 1, ...), -1 on padding; padding-side agnostic."""
    return torch.where(mask, mask.long().cumsum(dim=1) - 1, torch.full_like(mask, -1, dtype=torch.long))
