"""TEPO (arXiv 2510.09369, revised 2604.12736, ACL 2026): token-level policy optimisation through the
sequence likelihood.

Only the abstracts and third-party descriptions are public, so this is a reconstruction; each choice
is a parameter:
- advantage: the group z-score on every token of a response (`advantage`);
- ratio: the "Markov likelihood" link, read as the geometric-mean sequence ratio with each token's
  own gradient path, s_{i,t} = sg[s_i]·π_θ(y_t)/sg[π_θ(y_t)] — GSPO-token's (`ratio: mean_detached`),
  clipped under the suite's trust-region rule;
- aggregation: token-level (`token_mean`);
- a k3 KL-to-reference term only on the tokens `kl_mask` selects: `positive_decreasing` (default) —
  tokens with a positive advantage whose entropy under the current policy is below the behaviour
  policy's, the updates that are collapsing entropy; `positive` — every positively rewarded token;
  `none` — no KL (then TEPO is GSPO-token with token-mean aggregation). Its coefficient is `kl_coef`,
  the suite's KL setting like every algorithm's, so `tepo: {kl_coef: 0.04}` is the labelled setting
  in which the mask acts.
"""

from dataclasses import dataclass

from algorithms import register
from algorithms.objective import PolicyGradient, _loss_mask, _masked_mean, kl_k3
from algorithms.units import sequence_units

KL_MASKS = ("positive_decreasing", "positive", "none")


@register("tepo")
@dataclass
class TEPO(PolicyGradient):
    ratio: str = "mean_detached"
    aggregation: str = "token_mean"
    kl_mask: str = "positive_decreasing"
    unit = "sequence"

    def __post_init__(self):
        super().__post_init__()
        if self.kl_mask not in KL_MASKS:
            raise ValueError(f"kl_mask must be one of {', '.join(KL_MASKS)}; got {self.kl_mask!r}")

    @property
    def needs_reference(self):
        return self.kl_coef > 0 and self.kl_mask != "none"

    @property
    def needs_current_entropy(self):
        return self.needs_reference and self.kl_mask == "positive_decreasing"

    @property
    def needs_entropy(self):  # the behaviour policy's side of the entropy comparison
        return self.needs_current_entropy

    def partition(self, batch):
        return sequence_units(batch.mask)

    def penalty(self, new_logp, ref_logp, batch, new_entropy):
        if not self.needs_reference:
            return None, {}
        if ref_logp is None:
            raise ValueError("tepo's KL term needs reference log-probs")
        selected = _loss_mask(batch) & (batch.advantages > 0)
        if self.kl_mask == "positive_decreasing":
            if new_entropy is None or batch.entropy is None:
                raise ValueError("kl_mask positive_decreasing needs the current and the behaviour policy's entropies")
            selected = selected & (new_entropy < batch.entropy)
        k3 = kl_k3(new_logp, ref_logp)
        return self.kl_coef * k3 * selected, {"kl_ref": _masked_mean(k3.detach(), _loss_mask(batch)),
                                              "kl_masked_frac": _masked_mean(selected.float(), _loss_mask(batch))}
