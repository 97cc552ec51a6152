"""One trust-region rule for every granularity (`scaled`), or each paper's own (`paper`)."""

import math

import pytest
import torch

from algorithms.batch import RolloutBatch
from harness.spec.plugins import make_algorithm

LENGTHS = [6, 3]


def batch():
    t = max(LENGTHS)
    mask = torch.tensor([[j < n for j in range(t)] for n in LENGTHS])
    old = torch.where(mask, torch.full((2, t), -1.0, dtype=torch.float64), torch.zeros(2, t, dtype=torch.float64))
    return RolloutBatch(response_ids=torch.zeros(2, t, dtype=torch.long), mask=mask, old_logp=old,
                        rewards=torch.tensor([1.0, 0.0]), group=torch.tensor([0, 0]), max_new_tokens=8,
                        entropy=torch.rand(2, t))


def eps(name, **params):
    a = make_algorithm(name, params)
    b = batch()
    low, high = a.epsilons(a.prepare(b))
    return low[b.mask].tolist(), high[b.mask].tolist()


def test_scaled_rule_gives_each_unit_eps_over_root_size():
    r6, r3, r2 = (0.2 / math.sqrt(n) for n in (6, 3, 2))
    # grpo: every token its own unit
    assert eps("grpo", trust_region="scaled") == ([0.2] * 9, [0.2] * 9)
    # gspo: the whole response, |u| = its length
    low, high = eps("gspo", trust_region="scaled")
    assert low == pytest.approx([r6] * 6 + [r3] * 3) and high == low
    # mpo K=4: blocks of 4 then the short last block (2 of the 6-token response); the 3-token response is one block
    low, high = eps("mpo", k=4, trust_region="scaled")
    assert low == pytest.approx([0.1] * 4 + [r2] * 2 + [r3] * 3) and high == low
    # a sum of log-ratios spreads by √|u|: ε grows instead
    low, _ = eps("mpo", k=4, ratio="sum", trust_region="scaled")
    assert low == pytest.approx([0.4] * 4 + [0.2 * math.sqrt(2)] * 2 + [0.2 * math.sqrt(3)] * 3)
    # ε₁ is the suite's
    low, high = eps("gspo", trust_region="scaled", eps_low=0.1, eps_high=0.3)
    assert low[0] == pytest.approx(0.1 / math.sqrt(6)) and high[0] == pytest.approx(0.3 / math.sqrt(6))


def test_paper_rule_and_explicit_values():
    assert eps("gspo", trust_region="paper") == ([3e-4] * 9, [4e-4] * 9)
    assert eps("sapo_segment", trust_region="paper") == ([0.2] * 9, [0.28] * 9)
    low, high = eps("mpo", k=4, trust_region="paper")  # nominal K, also for the short block
    assert low == pytest.approx([0.1] * 9)
    # DAPO's clip-higher is its own, under either rule
    assert eps("dapo", trust_region="scaled") == ([0.2] * 9, [0.28] * 9)
    # an explicit value is used as given, never scaled
    assert eps("gspo", trust_region="scaled", clip_low=0.05) == ([0.05] * 9, pytest.approx(eps("gspo")[1]))


def test_the_clip_decision_uses_the_units_eps():
    """GSPO under `scaled`: the 6-token response clips once its ratio leaves 1 ± 0.2/√6 (≈ 0.082)."""
    a = make_algorithm("gspo", {"trust_region": "scaled"})
    b = a.prepare(batch())
    for shift, clipped in ((0.05, False), (0.12, True)):
        new = b.old_logp + torch.where(b.mask, torch.full_like(b.old_logp, shift), torch.zeros_like(b.old_logp))
        _, m = a.loss(new, b)
        # response 0 (A > 0) holds 6 of the 9 tokens; response 1 (A < 0) never clips upwards
        assert m["clip_frac"] == pytest.approx(6 / 9 if clipped else 0.0)


def test_sum_and_mean_ratios_give_the_same_gradient_on_policy():
    """The joint ratio's unit loss is counted once per unit, not once per token of it."""
    b = batch()
    grads = []
    for ratio in ("mean", "sum", "token"):
        a = make_algorithm("mpo", {"k": 4, "ratio": ratio} if ratio != "token" else {"k": 1})
        new = b.old_logp.clone().requires_grad_(True)
        a.loss(new, a.prepare(b))[0].backward()
        grads.append(new.grad)
    torch.testing.assert_close(grads[1], grads[0])
    torch.testing.assert_close(grads[2], grads[0])


def test_unknown_trust_region_is_refused():
    from harness.core.errors import UserError

    with pytest.raises(UserError, match="trust_region must be one of scaled, matched, paper"):
        make_algorithm("grpo", {"trust_region": "loose"})


def coherent_batch(seed=0, rows=64, t=24):
    """Responses whose tokens move together under the update (a shared shift per response plus token
    noise), as a gradient step on a whole response moves them: the case the √|u| rule gets wrong."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, t + 1, (rows,), generator=g)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    old = torch.where(mask, -torch.rand(rows, t, generator=g, dtype=torch.float64) * 3, torch.zeros(rows, t, dtype=torch.float64))
    b = RolloutBatch(response_ids=torch.zeros(rows, t, dtype=torch.long), mask=mask, old_logp=old,
                     rewards=(torch.arange(rows) % 3 == 0).double(), group=torch.arange(rows) // 4, max_new_tokens=t)
    move = 0.15 * torch.randn(rows, 1, generator=g, dtype=torch.float64) + 0.05 * torch.randn(rows, t, generator=g, dtype=torch.float64)
    return b, torch.where(mask, old + move, old)


def unit_share_beyond(a, b, new):
    """Share of tokens whose unit's log-ratio is beyond the unit's bound, on either side."""
    from algorithms.ratios import log_ratio

    logr = log_ratio(new, b.old_logp, b.units, b.mask, a.ratio)
    low, high = a.epsilons(b, logr, new)
    beyond = (logr > torch.log1p(high)) | (logr < torch.log1p(-low))
    return float(beyond[b.mask].double().mean())


@pytest.mark.parametrize("name, params", [("gspo", {}), ("mpo", {"k": 4}), ("gspo_token", {}), ("mpo", {"k": 4, "ratio": "sum"})])
def test_matched_rule_clips_units_as_often_as_eps1_clips_tokens(name, params):
    raw, new = coherent_batch()
    lam = (new - raw.old_logp)[raw.mask]
    token_share = float(((lam > math.log1p(0.2)) | (lam < math.log1p(-0.2))).double().mean())
    assert 0.05 < token_share < 0.5
    matched = make_algorithm(name, {**params, "trust_region": "matched"})
    b = matched.prepare(raw)
    # a unit straddling a quantile moves the share by at most its size over the batch's tokens
    from algorithms.ratios import unit_sizes

    slack = 2 * float(unit_sizes(b.units, b.mask).max()) / lam.numel()
    assert abs(unit_share_beyond(matched, b, new) - token_share) <= slack
    scaled = make_algorithm(name, {**params, "trust_region": "scaled"})
    assert abs(unit_share_beyond(scaled, scaled.prepare(raw), new) - token_share) > slack  # √|u| misses here


def test_matched_rule_keeps_eps1_for_tokens_and_clips_nothing_on_policy():
    raw, new = coherent_batch(seed=1)
    for name in ("grpo", "dapo"):
        a, s = make_algorithm(name, {"trust_region": "matched"}), make_algorithm(name, {"trust_region": "scaled"})
        b = a.prepare(raw)
        for got, want in zip(a.epsilons(b, new - b.old_logp, new), s.epsilons(b)):
            torch.testing.assert_close(got, want)
    a = make_algorithm("gspo", {"trust_region": "matched"})
    b = a.prepare(raw)
    assert a.loss(b.old_logp.clone(), b)[1]["clip_frac"] == 0.0
    _, m = a.loss(new, b)
    assert m["clip_frac"] > 0
