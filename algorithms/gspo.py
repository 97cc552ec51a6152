"""GSPO and GSPO-token (Qwen, arXiv 2507.18071; algorithms.md §7).

GSPO: one unit per response, ratio = geometric mean of its token ratios (length-normalised
sequence likelihood ratio), clipped as a whole with the paper's small ε (3e-4 / 4e-4), each
response counted once. GSPO-token: the same value and clip, but each token keeps its own
gradient path (sg[s]·π/sg[π]) so per-token advantages become possible; with equal advantages it
equals GSPO exactly.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient
from algorithms.units import sequence_units


@register("gspo")
@dataclass
class GSPO(PolicyGradient):
    ratio: str = "mean"
    clip_low: float = 3e-4
    clip_high: float = 4e-4
    unit = "sequence"

    def partition(self, batch):
        return sequence_units(batch.mask)


@register("gspo_token")
@dataclass
class GSPOToken(GSPO):
    ratio: str = "mean_detached"
