"""Segment-Aligned Policy Optimization (arXiv 2605.01327; algorithms.md §9), critic-free.

Segments end at the top-k % highest-entropy tokens of each response (k = 30) and at its last
token; the segment's ratio is the geometric mean of its token ratios and the clip is shared by the
segment (`trust_region: paper`: 0.2 / 0.28, the released script's; `scaled`: ε₁/√|segment|);
token-mean aggregation. (Not Soft Adaptive PO, which peers register as `sapo`.)

Advantage: the paper learns a critic and uses segment GAE. We use the group z-score instead, for
two reasons: a critic is a second network with its own learning rate that a fair budget comparison
would have to tune per algorithm, and Monte-Carlo values at ~3-token entropy segments would cost
about one continuation batch per 3 tokens, several times any other algorithm's rollout cost under
the same budget. With outcome advantages what remains distinctive is exactly the question
grainbench asks: the segment as the unit of the ratio and the clip.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient
from algorithms.segments import entropy_segment_ends
from algorithms.units import units_from_ends


@register("sapo_segment")
@dataclass
class SAPOSegment(PolicyGradient):
    ratio: str = "mean"
    aggregation: str = "token_mean"
    top_frac: float = 0.3
    unit = "segment"
    needs_entropy = True
    paper_clip = (0.2, 0.28)

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.top_frac <= 1:
            raise ValueError(f"top_frac must be in (0, 1], got {self.top_frac}")

    def partition(self, batch):
        if batch.entropy is None:
            raise ValueError("sapo_segment needs the behaviour entropies of the sampled tokens")
        return units_from_ends(batch.mask, entropy_segment_ends(batch.entropy, batch.mask, self.top_frac))
