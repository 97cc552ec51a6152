"""The one policy-gradient code path: partition → ratio → advantage → aggregation.

An algorithm is a `PolicyGradient` subclass: a dataclass whose fields are its hyper-parameters
(overridable from a suite) and whose defaults pick the pieces. Only genuinely new behaviour is code
(a partition, an advantage estimator). The loss below is shared by every algorithm, so leaderboard
differences come from the choices, not from implementation accidents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar, Protocol

import torch
from torch import Tensor

from algorithms.advantages import OUTCOME_ADVANTAGES, broadcast
from algorithms.aggregation import AGGREGATIONS, aggregate, aggregate_parts
from algorithms.batch import RolloutBatch
from algorithms.ratios import RATIOS, log_ratio, unit_sizes
from algorithms.units import token_units

LOG_RATIO_LIMIT = 20.0  # exp(±20) keeps float32 finite; beyond it the clip has long since applied
TRUST_REGIONS = ("scaled", "matched", "paper")


class ValueEstimator(Protocol):
    """Harness service for Monte-Carlo values: mean reward of `n` continuations of each prefix.

    `prefixes` holds (row, length) pairs: response `row` of the batch cut after `length` tokens.
    The harness generates through its engine, scores with the task, and charges the budget.
    """

    def __call__(self, prefixes: list[tuple[int, int]], n: int) -> Tensor: ...


@dataclass
class PolicyGradient:
    """Token-level clipped policy gradient with group outcome advantages (the family's base)."""

    ratio: str = "token"
    advantage: str = "zscore"
    aggregation: str = "seq_mean_token_mean"
    clip: bool = True
    # The trust region: `scaled` gives a unit of |u| tokens ε₁/√|u| when its ratio is a mean of
    # log-ratios (ε₁·√|u| for a sum), one rule for every granularity; `matched` clips the same share
    # of units as ε₁ clips tokens in the same minibatch; `paper` uses each method's published ε.
    # eps_low / eps_high are ε₁ (a suite sets them for all its algorithms).
    trust_region: str = "scaled"
    eps_low: float = 0.2
    eps_high: float = 0.2
    clip_low: float | None = None  # explicit ε (either rule): used as given, per token, never scaled
    clip_high: float | None = None
    kl_coef: float = 0.0

    unit: ClassVar[str] = "token"
    trust: ClassVar[str] = "clip"  # the trust-region function, in words (`grainbench algorithms`, docs/algorithms.md)
    version: ClassVar[str] = "2"
    paper_clip: ClassVar[tuple[float, float]] = (0.2, 0.2)  # the published (ε_low, ε_high) of `trust_region: paper`
    on_policy_only: ClassVar[bool] = False  # REINFORCE: one update per rollout batch
    needs_entropy: ClassVar[bool] = False  # reads batch.entropy (the harness computes it if the engine did not)
    needs_current_entropy: ClassVar[bool] = False  # reads the current policy's entropy in `loss` (new_entropy)

    def __post_init__(self) -> None:
        checks = {
            "ratio": (self.ratio, RATIOS),
            "aggregation": (self.aggregation, AGGREGATIONS),
            "advantage": (self.advantage, self.advantage_choices()),
        }
        for name, (value, valid) in checks.items():
            if value not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")
        if self.trust_region not in TRUST_REGIONS:
            raise ValueError(f"trust_region must be one of {', '.join(TRUST_REGIONS)}; got {self.trust_region!r}")
        for low, high in ((self.eps_low, self.eps_high), (self.clip_low, self.clip_high)):
            if not ((low is None or 0 < low < 1) and (high is None or high > 0)):
                raise ValueError(f"clip range must satisfy 0 < low < 1 and high > 0; got {low}, {high}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0; got {self.kl_coef}")

    # --- the pieces a subclass may replace -------------------------------------------------
    def advantage_choices(self) -> tuple[str, ...]:
        return tuple(OUTCOME_ADVANTAGES)

    def partition(self, batch: RolloutBatch) -> Tensor:
        return token_units(batch.mask)

    def token_advantages(self, batch: RolloutBatch, values: ValueEstimator | None) -> Tensor:
        outcome = OUTCOME_ADVANTAGES[self.advantage](batch.rewards.to(batch.old_logp.dtype), batch.group)
        return broadcast(outcome, batch.mask)

    def loss_mask(self, batch: RolloutBatch) -> Tensor:
        return batch.mask

    def keep_group(self, correct: list[bool]) -> bool:
        """Whether a group of responses enters the rollout batch (DAPO drops uninformative ones)."""
        return True

    def sampling_rounds(self) -> int:
        """Rollout batches drawn at most per step to fill it with kept groups."""
        return 1

    def paper_epsilons(self) -> tuple[float, float]:
        """(ε_low, ε_high) under `trust_region: paper`: the method's published values."""
        return self.paper_clip

    # --- the shared path --------------------------------------------------------------------
    def epsilons(self, batch: RolloutBatch, logr: Tensor | None = None,
                 new_logp: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-token (ε_low, ε_high), (B, T): the clip bounds of the unit each token belongs to.
        `matched` reads the current log-ratios (`logr`, `new_logp`); without them it falls back to `scaled`."""
        shape, dtype, device = batch.mask.shape, batch.old_logp.dtype, batch.old_logp.device
        unit_ratio = self.ratio not in ("token", "none")
        if self.trust_region == "matched" and unit_ratio and logr is not None and new_logp is not None:
            low, high = matched_epsilons(logr.detach(), (new_logp - batch.old_logp).detach(), batch.mask,
                                         self.eps_low, self.eps_high)
            low, high = low.expand(shape), high.expand(shape)
        elif self.trust_region in ("scaled", "matched"):
            scale = unit_scale(batch.units, batch.mask, self.ratio).to(dtype)
            low, high = self.eps_low * scale, self.eps_high * scale
        else:
            paper_low, paper_high = self.paper_epsilons()
            low, high = (torch.full(shape, v, dtype=dtype, device=device) for v in (paper_low, paper_high))
        if self.clip_low is not None:
            low = torch.full(shape, self.clip_low, dtype=dtype, device=device)
        if self.clip_high is not None:
            high = torch.full(shape, self.clip_high, dtype=dtype, device=device)
        return low, high

    def params(self) -> dict:
        return asdict(self)

    @classmethod
    def describe(cls) -> dict:
        defaults = cls()
        return {"unit": cls.unit, "ratio": defaults.ratio, "trust": cls.trust if defaults.clip or cls.trust != "clip" else "none",
                "advantage": defaults.advantage, "aggregation": defaults.aggregation, "defaults": defaults.params(),
                "version": cls.version}

    def prepare(self, batch: RolloutBatch, values: ValueEstimator | None = None) -> RolloutBatch:
        """Everything fixed for the whole rollout batch: units, advantages, loss mask."""
        return replace(batch, units=self.partition(batch), advantages=self.token_advantages(batch, values),
                       loss_mask=self.loss_mask(batch))

    def loss_count(self, batch: RolloutBatch) -> float:
        """The aggregation's count over `batch` (responses or tokens). A minibatch split over processes or
        accumulation steps passes its total to `loss(count=...)` of every shard."""
        lmask = _loss_mask(batch)
        return float(aggregate_parts(lmask.float(), lmask, self.aggregation, batch.max_new_tokens)[1])

    @property
    def needs_reference(self) -> bool:
        """Whether the loss reads reference log-probs (the harness then keeps a frozen copy and charges its forwards)."""
        return self.kl_coef > 0

    def surrogate(self, logr: Tensor, new_logp: Tensor, batch: RolloutBatch,
                  new_entropy: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-token policy loss from the per-token log ratio, and where the trust region acted (the
        clip fraction's numerator). The base is PPO's clipped surrogate with the rule's ε per unit; a
        method with another trust-region function (a soft gate, a clipped weight, an entropy-dependent
        ε) replaces this alone."""
        ratio = torch.exp(logr.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))
        if not self.clip:
            return -ratio * batch.advantages, torch.zeros_like(batch.mask)
        return ppo_clip(ratio, batch.advantages, *self.epsilons(batch, logr, new_logp))

    def penalty(self, new_logp: Tensor, ref_logp: Tensor | None, batch: RolloutBatch,
                new_entropy: Tensor | None) -> tuple[Tensor | None, dict]:
        """Per-token regulariser added to the loss: β·k3 KL to the reference on every token (none at β 0)."""
        if self.kl_coef == 0:
            return None, {}
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs reference log-probs")
        k3 = kl_k3(new_logp, ref_logp)
        return self.kl_coef * k3, {"kl_ref": _masked_mean(k3.detach(), _loss_mask(batch))}

    def loss(self, new_logp: Tensor, batch: RolloutBatch, ref_logp: Tensor | None = None,
             count: float | None = None, new_entropy: Tensor | None = None) -> tuple[Tensor, dict]:
        """The batch's units' surrogate plus penalty, aggregated (divided by `count` when given: this
        batch is a shard of a larger minibatch); returns (loss, metrics). `new_entropy`: the current
        policy's token entropies, passed when `needs_current_entropy`."""
        mask, lmask = batch.mask, _loss_mask(batch)
        logr = log_ratio(new_logp, batch.old_logp, batch.units, mask, self.ratio)
        per_token, clip_active = self.surrogate(logr, new_logp, batch, new_entropy)
        if self.ratio == "sum":  # ∇ of a joint ratio already sums its |u| tokens: replicated on each, count it once
            per_token = per_token / unit_sizes(batch.units, mask).clamp(min=1).to(per_token.dtype)
        extra, metrics = self.penalty(new_logp, ref_logp, batch, new_entropy)
        if extra is not None:
            per_token = per_token + extra
        loss = aggregate(per_token, lmask, self.aggregation, batch.max_new_tokens, count)
        token_lam = (new_logp - batch.old_logp).detach()
        metrics.update(
            clip_frac=_masked_mean(clip_active.to(new_logp.dtype), lmask),
            ratio_mean=_masked_mean(torch.exp(logr.detach().clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)), lmask),
            kl_old=_masked_mean(torch.exp(token_lam) - 1 - token_lam, mask),  # k3 of KL(old ‖ new)
        )
        return loss, metrics


def ppo_clip(ratio: Tensor, adv: Tensor, eps_low: Tensor, eps_high: Tensor) -> tuple[Tensor, Tensor]:
    """PPO's pessimistic clipped surrogate per token, and where the clip acted."""
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
    active = ((ratio < 1 - eps_low) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))
    return -torch.minimum(ratio * adv, clipped), active


def kl_k3(new_logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref): unbiased and >= 0 (DeepSeekMath Eq. 4)."""
    d = ref_logp - new_logp
    return torch.exp(d) - d - 1


def _loss_mask(batch: RolloutBatch) -> Tensor:
    return batch.loss_mask if batch.loss_mask is not None else batch.mask


def unit_scale(units: Tensor, mask: Tensor, ratio: str) -> Tensor:
    """The `scaled` trust region's factor per token: a mean of |u| token log-ratios spreads like
    1/√|u| of one, a sum like √|u|, so ε follows; a token ratio keeps ε₁."""
    if ratio in ("token", "none"):
        return torch.ones(mask.shape, device=mask.device)
    size = unit_sizes(units, mask).clamp(min=1)
    return size.sqrt() if ratio == "sum" else size.rsqrt()


def matched_epsilons(unit_logr: Tensor, token_logr: Tensor, mask: Tensor, eps_low: float,
                     eps_high: float) -> tuple[Tensor, Tensor]:
    """The `matched` trust region's (ε_low, ε_high) for this minibatch's units: each side's bound is the
    quantile of the unit log-ratios (one per token, so a unit weighs its size, as the clip fraction
    counts) at the share of token log-ratios beyond ε₁ on that side. Units then clip as often as tokens
    would, whatever the correlation of a unit's tokens (`scaled` assumes none, so over-clips when the
    update moves a unit's tokens together)."""
    units, tokens = unit_logr[mask].double(), token_logr[mask].double()
    if units.numel() == 0:
        return unit_logr.new_tensor(eps_low), unit_logr.new_tensor(eps_high)
    share_high = (tokens > math.log1p(eps_high)).double().mean()
    share_low = (tokens < math.log1p(-eps_low)).double().mean()
    high = torch.quantile(units, 1 - share_high).clamp(min=0)  # no share beyond: the largest, so none clips
    low = torch.quantile(units, share_low).clamp(max=0)
    return (-torch.expm1(low)).to(unit_logr.dtype), torch.expm1(high).to(unit_logr.dtype)


def _masked_mean(x: Tensor, mask: Tensor) -> float:
    m = mask.to(x.dtype)
    return float((x * m).sum() / m.sum().clamp(min=1))


