"""Dr. GRPO (arXiv 2503.20783; algorithms.md §5): GRPO without its two biases.

Mean-only group advantage (no std division: no difficulty bias) and a constant normaliser
G·L_max instead of each response's length (no length bias); β = 0.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient


@register("dr_grpo")
@dataclass
class DrGRPO(PolicyGradient):
    advantage: str = "mean"
    aggregation: str = "constant"
