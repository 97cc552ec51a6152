"""LUSPO, length-unbiased sequence policy optimisation (TRL `loss_type="luspo"`).

GSPO's sequence ratio and clip, but each response's loss is scaled by its length before the mean
over responses (aggregation `seq_mean_token_sum`): GSPO's per-response mean gives a long response
the same weight as a short one, which biases the update towards short responses; LUSPO weighs a
response by its token count, as the sequence likelihood it stands for does.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.gspo import GSPO


@register("luspo")
@dataclass
class LUSPO(GSPO):
    aggregation: str = "seq_mean_token_sum"
