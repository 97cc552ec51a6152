"""KTAE, Key-token Advantage Estimation (arXiv 2505.16826, code xiaolizh1/KTAE).

A rollout-level advantage gives every token of a response the same credit. KTAE adds to it, per
token, a bonus read from the group alone (no model): for each token id, a 2×2 table of how many
correct and wrong responses of the group contain it, and from that table
- Fisher's exact test (two-sided p; weight e^{−2p}, 0 when p = 1),
- the information gain of "contains the token" about correctness (bits),
- Cohen's h between the two containment rates, asin√p_correct − asin√p_wrong (its sign says which
  side the token is on), plus, with `ktae_tf`, a BM25-style term-frequency contrast,
combined as key = (α·fisher + β·IG)·h / (α + β) and squashed to bonus = (2σ(key) − 1)·`ktae_scale`.
A group with only correct or only wrong responses gets no bonus. Correct means reward > 0, as in the
source. Defaults are the source's (α = β = 1, tf on, scale 1); at `ktae_scale: 0` the estimator is
its base's. `ktae` is GRPO + KTAE and `dapo_ktae` DAPO + KTAE, the two the paper reports; any
algorithm gains it the same way (`class X(KeyTokenAdvantage, Base)`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from scipy.stats import fisher_exact

from algorithms import register
from algorithms.batch import token_values_by_group
from algorithms.dapo import DAPO
from algorithms.grpo import GRPO

BM25_K1, BM25_B = 2.0, 0.5  # the source's term-frequency saturation constants


def _entropy_bits(*counts: float) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c > 0) if total > 0 else 0.0


def information_gain(a: int, b: int, c: int, d: int) -> float:
    """IG (bits) of token presence about correctness: a/b correct/wrong responses containing it, c/d not."""
    n = a + b + c + d
    return _entropy_bits(a + c, b + d) - ((a + b) / n) * _entropy_bits(a, b) - ((c + d) / n) * _entropy_bits(c, d)


def cohens_h(p_correct: float, p_wrong: float) -> float:
    """The source's Cohen's h, without the conventional factor 2 (asin√p₁ − asin√p₂)."""
    return math.asin(math.sqrt(p_correct)) - math.asin(math.sqrt(p_wrong))


def _bm25_tf(count: int, total: int, avg_total: float) -> float:
    if total == 0:
        return 0.0
    freq = count / total
    k = BM25_K1 * (1 - BM25_B + BM25_B * total / avg_total)
    return freq * (BM25_K1 + 1) / (freq + k)


def group_key_token_bonus(responses: list[list[int]], correct: list[bool], fisher_weight: float = 1.0,
                          ig_weight: float = 1.0, term_frequency: bool = True, scale: float = 1.0) -> dict[int, float]:
    """Bonus per token id for one group's responses (token-id lists); {} when the group is all right or all wrong."""
    right = [r for r, ok in zip(responses, correct) if ok]
    wrong = [r for r, ok in zip(responses, correct) if not ok]
    if not right or not wrong or fisher_weight + ig_weight == 0:
        return {}
    in_right = Counter(t for r in right for t in set(r))
    in_wrong = Counter(t for r in wrong for t in set(r))
    freq_right = Counter(t for r in right for t in r)
    freq_wrong = Counter(t for r in wrong for t in r)
    tokens_right, tokens_wrong = sum(map(len, right)), sum(map(len, wrong))
    avg_tokens = (tokens_right + tokens_wrong) / 2
    bonus = {}
    for token in in_right.keys() | in_wrong.keys():
        a, b = in_right[token], in_wrong[token]
        c, d = len(right) - a, len(wrong) - b
        p = float(fisher_exact([[a, b], [c, d]])[1]) if fisher_weight else 1.0
        fisher = math.exp(-2 * p) if p < 1.0 else 0.0
        ig = information_gain(a, b, c, d) if ig_weight else 0.0
        h = cohens_h(a / len(right), b / len(wrong))
        if term_frequency:
            tf_r = _bm25_tf(freq_right[token], tokens_right, avg_tokens)
            tf_w = _bm25_tf(freq_wrong[token], tokens_wrong, avg_tokens)
            h += tf_r / (tf_w + 1e-5) - tf_w / (tf_r + 1e-5)
        key = (fisher_weight * fisher + ig_weight * ig) * h / (fisher_weight + ig_weight)
        bonus[token] = math.tanh(key / 2) * scale  # = 2σ(key) − 1
    return bonus


def key_token_bonus(response_ids: torch.Tensor, mask: torch.Tensor, rewards: torch.Tensor, group: torch.Tensor,
                    **weights) -> torch.Tensor:
    """(B, T) per-token bonus: each token gets its group's bonus for its id (0 on padding)."""

    def bonuses(members, rows):
        table = group_key_token_bonus(rows, [bool(rewards[i] > 0) for i in members], **weights)
        return [[table.get(t, 0.0) for t in row] for row in rows]

    return token_values_by_group(response_ids, mask, group, bonuses)


@dataclass
class KeyTokenAdvantage:
    """Mixin: the base algorithm's token advantages plus KTAE's key-token bonus."""

    ktae_fisher: float = 1.0  # α: weight of the Fisher-test term
    ktae_ig: float = 1.0  # β: weight of the information-gain term
    ktae_tf: bool = True  # add the term-frequency contrast to Cohen's h
    ktae_scale: float = 1.0  # the bonus's bound ("top" in the source); 0 turns KTAE off

    def __post_init__(self):
        super().__post_init__()
        if self.ktae_fisher < 0 or self.ktae_ig < 0 or self.ktae_fisher + self.ktae_ig == 0 or self.ktae_scale < 0:
            raise ValueError("ktae needs ktae_fisher, ktae_ig >= 0 (not both 0) and ktae_scale >= 0")

    def token_advantages(self, batch, values):
        base = super().token_advantages(batch, values)
        if self.ktae_scale == 0:
            return base
        bonus = key_token_bonus(batch.response_ids, batch.mask, batch.rewards, batch.group, fisher_weight=self.ktae_fisher,
                                ig_weight=self.ktae_ig, term_frequency=self.ktae_tf, scale=self.ktae_scale)
        return base + bonus.to(base.dtype)

    @classmethod
    def describe(cls):
        described = super().describe()
        return {**described, "advantage": f"{described['advantage']} + key-token bonus"}


@register("ktae")
@dataclass
class KTAE(KeyTokenAdvantage, GRPO):
    pass


@register("dapo_ktae")
@dataclass
class DAPOKTAE(KeyTokenAdvantage, DAPO):
    pass
