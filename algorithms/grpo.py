"""GRPO (DeepSeekMath, arXiv 2402.03300 §4; algorithms.md §4).

Token units, token ratio and clip, group z-score advantage, seq-mean-token-mean, k3 KL to the
reference in the loss. The paper's β = 0.04; ε is not stated there, 0.2 is the common choice.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient


@register("grpo")
@dataclass
class GRPO(PolicyGradient):
    kl_coef: float = 0.04
