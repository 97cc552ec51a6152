"""GSPO and GSPO-token (Qwen, arXiv 2507.18071; algorithms.md §7).

GSPO: one unit per response, ratio = geometric mean of its token ratios (length-normalised
sequence likelihood ratio), clipped as a whole, each response counted once. The paper's ε
(3e-4 / 4e-4, `trust_region: paper`) was tuned for responses of thousands of tokens; the `scaled`
rule gives ε₁/√|y| instead. GSPO-token: the same value and clip, but each token keeps its own
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
    unit = "sequence"
    paper_clip = (3e-4, 4e-4)

    def partition(self, batch):
        return sequence_units(batch.mask)


@register("gspo_token")
@dataclass
class GSPOToken(GSPO):
    ratio: str = "mean_detached"
