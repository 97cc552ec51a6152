"""What an engine returns. The trainer never depends on which engine produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from torch import nn


@dataclass
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0


@dataclass
class Generation:
    prompt_ids: list[int]
    response_ids: list[int]  # sampled tokens, the closing EOS included when there is one
    logprobs: list[float]  # behaviour log-prob of each sampled token (temperature-scaled distribution)
    entropies: list[float]  # entropy of that distribution at each sampled position
    finished: bool  # True when the response ended with EOS, False when cut at max_new_tokens


class Engine(Protocol):
    # whether behaviour log-probs are those of the temperature-scaled distribution before top-p
    # truncation (what the trainer recomputes); if not, the trainer recomputes them when top_p < 1
    logprobs_before_top_p: bool
    def generate(self, prompts: Sequence[list[int]], n: int, params: SamplingParams, seed: int,
                 limits: Sequence[int] | None = None) -> list[list[Generation]]:
        """`n` samples for each prompt: result[i][j] is sample j of prompt i. `limits` gives each prompt
        its own max_new_tokens (at most params.max_new_tokens): no token past it is generated."""

    def sync_weights(self, model: nn.Module) -> None:
        """Make the engine sample from `model`'s current weights."""
