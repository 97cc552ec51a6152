"""SPO-chain, Segment Policy Optimization (arXiv 2505.23564, code AIFrameResearch/SPO; algorithms.md §8).

Cut points are tokens the sampler chose with probability < ρ; every `interval`-th one opens a
segment. Each segment boundary is valued by N Monte-Carlo continuations generated through the
harness's engine (charged to the budget); a segment's advantage is V̂(end) − V̂(start). Only the
cut-point tokens enter the loss (the probability mask: the other tokens were near-certain and
carry no credit). Ratio and clip stay per token, as in the paper. Advantages are whitened over the
masked tokens of the batch and KL is 1e-4 k3, as in the authors' code.

Scaled for the embedded model: responses are ~20 tokens, not ~200, so interval 2 instead of 5,
and N = 4 instead of 9 (the paper says 4 suffices).
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.montecarlo import segment_advantages, whiten
from algorithms.objective import PolicyGradient
from algorithms.segments import cutpoint_segment_starts, cutpoints
from algorithms.units import units_from_starts


@register("spo_segment")
@dataclass
class SPOSegment(PolicyGradient):
    advantage: str = "mc"
    aggregation: str = "token_mean"
    kl_coef: float = 1e-4
    rho: float = 0.9
    interval: int = 2
    mc_samples: int = 4
    whiten_advantages: bool = True
    unit = "segment"

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.rho <= 1 or self.interval < 1 or self.mc_samples < 1:
            raise ValueError("need 0 < rho <= 1, interval >= 1, mc_samples >= 1")

    def advantage_choices(self):
        return ("mc",)

    def starts(self, batch):
        return cutpoint_segment_starts(batch.old_logp, batch.mask, self.rho, self.interval)

    def partition(self, batch):
        return units_from_starts(batch.mask, self.starts(batch))

    def loss_mask(self, batch):
        return cutpoints(batch.old_logp, batch.mask, self.rho)

    def token_advantages(self, batch, values):
        if values is None:
            raise ValueError("spo_segment needs the harness's value estimator for its Monte-Carlo rollouts")
        adv = segment_advantages(batch, self.starts(batch), values, self.mc_samples)
        return whiten(adv, self.loss_mask(batch)) if self.whiten_advantages else adv
