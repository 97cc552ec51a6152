"""CISPO, clipped importance-sampling-weight policy optimisation (MiniMax-M1, arXiv 2506.13585; TRL and
verl `cispo`).

Loss −sg(min(r, 1 + ε_high))·A·log π per token, token-mean aggregation. The ratio is only a weight
and is capped, never a gate: no token loses its gradient (PPO's clip drops the rare "fork" tokens
whose ratio moved most), the weight just stops growing. On-policy (r = 1) it is exactly REINFORCE.
Under `trust_region: paper` the cap is the ratio 5 (ε_high 4) that TRL recommends for CISPO; under
`scaled` it is the suite's token ε₁ (1.2). ε_low is unused: CISPO has no lower bound. `clip_frac`
counts the capped tokens.
"""

from dataclasses import dataclass

import torch

from algorithms import register
from algorithms.objective import LOG_RATIO_LIMIT, PolicyGradient


@register("cispo")
@dataclass
class CISPO(PolicyGradient):
    trust = "capped detached weight"
    aggregation: str = "token_mean"
    paper_clip = (0.2, 4.0)

    def __post_init__(self):
        super().__post_init__()
        if self.ratio != "token":
            raise ValueError(f"cispo weights each token by its own ratio (ratio: token); got {self.ratio!r}")

    def surrogate(self, logr, new_logp, batch, new_entropy=None):
        ratio = torch.exp(logr.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))
        _, eps_high = self.epsilons(batch)
        capped = ratio > 1 + eps_high
        weight = torch.minimum(ratio, 1 + eps_high).detach()
        return -weight * batch.advantages * new_logp, capped
