"""The methods TRL, verl and recent papers ship, each against its source's definition written out here
by hand (value and gradient, float64), plus the invariant that ties it to the rest of the family."""

import math

import pytest
import torch
from scipy import stats

from tests.test_granularity_invariants import (
    LENGTHS,
    algo,
    batch,
    loss_and_grad,
    perturbation,
)

pytestmark = pytest.mark.usefixtures("float64")
B = len(LENGTHS)


def moved(b, scale=0.3, seed=1):
    """The batch's new log-probs after a policy move: (new log-probs, λ = new − old) on real tokens."""
    d = perturbation(b, scale, seed)
    return b.old_logp + d, torch.where(b.mask, d, torch.zeros_like(d))


def grad_of(loss_fn, new_logp):
    x = new_logp.clone().requires_grad_(True)
    loss = loss_fn(x)
    loss.backward()
    return loss.detach(), x.grad


def token_mean(per_token, mask):
    return (per_token * mask).sum() / mask.sum()


def seq_mean_token_mean(per_token, mask):
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()


def prepared(name, b, **params):
    a = algo(name, **params)
    return a, a.prepare(b)


def test_sapo_soft_is_trls_sigmoid_gate():
    b = batch()
    a, p = prepared("sapo_soft", b)
    new, _ = moved(b, 0.5)

    def trl(x):  # −σ(τ(r−1))·4/τ·A, τ by the advantage's sign, sequence-mean of token-means
        r = torch.exp(x - b.old_logp)
        tau = torch.where(p.advantages > 0, 1.0, 1.05)
        return seq_mean_token_mean(-torch.sigmoid(tau * (r - 1)) * 4 / tau * p.advantages, b.mask)

    l_ref, g_ref = grad_of(trl, new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    # the gate fades far from r = 1 where a clip would cut off: the gradient shrinks but never vanishes
    _, far = loss_and_grad(a, b, torch.full_like(b.old_logp, 2.0))
    assert torch.all(far[b.mask].abs() > 0) and far[b.mask].abs().max() < g[b.mask].abs().max()


def test_sapo_soft_sequence_ratio_uses_one_gate_per_response():
    b = batch()
    a, p = prepared("sapo_soft", b, ratio="mean")
    new, lam = moved(b, 0.3)
    s = torch.exp(lam.sum(1) / b.mask.sum(1))[:, None]

    def trl(x):
        s = torch.exp(((x - b.old_logp) * b.mask).sum(1) / b.mask.sum(1))[:, None]
        tau = torch.where(p.advantages > 0, 1.0, 1.05)
        return seq_mean_token_mean(-torch.sigmoid(tau * (s - 1)) * 4 / tau * p.advantages, b.mask)

    l_ref, g_ref = grad_of(trl, new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert s.std() > 0.01 and abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)


def test_cispo_caps_the_weight_and_keeps_every_tokens_gradient():
    b = batch()
    a, p = prepared("cispo", b, trust_region="paper")  # cap: ratio 5
    new, lam = moved(b, 1.2)  # some ratios beyond 5

    def trl(x):  # −sg(min(r, 1+ε_high))·A·log π, token mean
        w = torch.clamp(torch.exp(x - b.old_logp), max=5.0).detach()
        return token_mean(-w * p.advantages * x, b.mask)

    l_ref, g_ref = grad_of(trl, new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert (torch.exp(lam)[b.mask] > 5).any()
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    nonzero_adv = b.mask & (p.advantages != 0)
    assert torch.all(g[nonzero_adv] != 0)  # a clip would have zeroed the capped tokens


def test_gmpo_is_verls_geometric_mean_with_sign_aware_token_clip():
    b = batch()
    a, p = prepared("gmpo", b, trust_region="paper")  # ε = 0.4 on log-ratios
    new, _ = moved(b, 0.5)

    def verl(x):
        lam = (x - b.old_logp) * b.mask
        sign = torch.sign(p.advantages)
        kept = sign * torch.minimum(sign * lam, sign * lam.clamp(-0.4, 0.4))
        ratio = torch.exp((kept * b.mask).sum(1) / b.mask.sum(1))
        adv = (p.advantages * b.mask).sum(1) / b.mask.sum(1)
        return (-adv * ratio).mean()

    l_ref, g_ref = grad_of(verl, new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)


def test_gpg_advantage_rescales_for_dead_groups_and_the_loss_is_plain_reinforce():
    b = batch()
    b.rewards = torch.tensor([1.0, 0.0, 1.0, 1.0])  # group 1 all right: no signal
    a, p = prepared("gpg", b)
    per_response = torch.tensor([0.5, -0.5, 0.0, 0.0]) * 4 / 2  # (r − mean)·B/#nonzero
    torch.testing.assert_close(p.advantages, per_response[:, None] * b.mask)
    new, _ = moved(b)
    l_ref, g_ref = grad_of(lambda x: token_mean(-x * p.advantages, b.mask), new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    assert a.on_policy_only


def covariance_batch():
    """A batch in which one token's advantage–log-prob covariance is far above all others."""
    b = batch()
    b.old_logp = b.old_logp.clone()
    b.old_logp[0, 0] = 3.0  # response 0 has A > 0; a high log-prob there makes its covariance largest
    return b


def test_clip_cov_drops_exactly_the_drawn_high_covariance_tokens():
    b = covariance_batch()
    a, p = prepared("clip_cov", b, clip_cov_lb=0.5, clip_cov_ub=10.0)
    new, _ = moved(b, 0.05, seed=3)
    cov = (p.advantages - p.advantages[b.mask].mean()) * (new - new[b.mask].mean())
    band = b.mask & (cov > 0.5) & (cov < 10.0)
    assert band.sum() >= 1
    l, g = loss_and_grad(a, b, new - b.old_logp)
    _, g_ppo = loss_and_grad(algo("grpo", aggregation="token_mean"), b, new - b.old_logp)
    dropped = (g == 0) & (g_ppo != 0)
    assert dropped.sum() == max(int(2e-4 * b.mask.sum()), 1) and torch.all(band[dropped])
    torch.testing.assert_close(g[~dropped], g_ppo[~dropped], atol=1e-12, rtol=0)


def test_kl_cov_penalises_the_top_covariance_token_by_abs_log_ratio():
    b = covariance_batch()
    a, p = prepared("kl_cov", b)
    new, lam = moved(b, 0.05, seed=3)

    def verl(x):
        lam = (x - b.old_logp) * b.mask
        r = torch.exp(lam)
        cov = (p.advantages - p.advantages[b.mask].mean()) * (x.detach() - x.detach()[b.mask].mean())
        top = torch.where(b.mask, cov, torch.full_like(cov, -math.inf)).flatten().argmax()
        penalty = torch.zeros(cov.numel()).index_fill(0, top, 1.0).view_as(cov)
        return token_mean(-p.advantages * r + penalty * lam.abs(), b.mask)

    l_ref, g_ref = grad_of(verl, new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    assert g[0, 0] != loss_and_grad(algo("kl_cov", kl_coef_cov=0.0), b, new - b.old_logp)[1][0, 0]


def test_luspo_is_gspo_weighted_by_length():
    b = batch()
    d = perturbation(b, 0.2)
    gspo, luspo = algo("gspo"), algo("luspo")
    lengths = torch.tensor(LENGTHS, dtype=torch.float64)

    def per_response(a):  # each response's GSPO loss, read back through a one-hot response mask
        out = []
        for i in range(B):
            keep = torch.zeros(B, dtype=torch.bool)
            keep[i] = True
            p = a.prepare(b)
            p.loss_mask = p.mask & keep[:, None]
            out.append(float(a.loss(b.old_logp + d, p)[0]) * B)
        return torch.tensor(out)

    l_luspo, _ = loss_and_grad(luspo, b, d)
    assert abs(l_luspo - (per_response(gspo) * lengths).mean()) < 1e-9
    assert abs(l_luspo - loss_and_grad(gspo, b, d)[0]) > 1e-3


def test_vespo_weights_reinforce_by_trls_gamma_bump():
    b = batch()
    a, p = prepared("vespo", b)
    new, lam = moved(b, 0.1)
    log_w = lam.sum(1, keepdim=True)
    k = torch.where(p.advantages >= 0, 2.0, 3.0)
    lmb = torch.where(p.advantages >= 0, 3.0, 2.0)
    phi = torch.exp(lmb) * torch.exp(log_w) ** k * torch.exp(-lmb * torch.exp(log_w))
    l_ref, g_ref = grad_of(lambda x: token_mean(-phi * p.advantages * x, b.mask), new)
    l, g = loss_and_grad(a, b, new - b.old_logp)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    assert phi[b.mask].std() > 0.01


def test_tepo_without_its_kl_mask_is_gspo_token_at_token_level():
    b = batch()
    for scale in (0.0, 0.2):
        d = perturbation(b, scale)
        l1, g1 = loss_and_grad(algo("tepo", kl_mask="none", kl_coef=0.1), b, d)
        l2, g2 = loss_and_grad(algo("gspo_token", aggregation="token_mean"), b, d)
        assert abs(l1 - l2) < 1e-9
        torch.testing.assert_close(g1, g2, atol=1e-9, rtol=0)


@pytest.mark.parametrize("kl_mask", ["positive_decreasing", "positive"])
def test_tepo_applies_kl_only_on_the_tokens_its_mask_selects(kl_mask):
    b = batch()
    a = algo("tepo", kl_mask=kl_mask, kl_coef=0.5)
    assert a.needs_reference and a.needs_current_entropy == (kl_mask == "positive_decreasing")
    p = a.prepare(b)
    d = perturbation(b, 0.2)
    ref = b.old_logp - 0.3
    new_entropy = b.entropy.flip(1)  # some tokens' entropy fell, some rose
    selected = b.mask & (p.advantages > 0)
    if kl_mask == "positive_decreasing":
        selected &= new_entropy < b.entropy
    assert 0 < selected.sum() < (b.mask & (p.advantages > 0)).sum() or kl_mask == "positive"

    def loss(a, x):
        return a.loss(x, p, ref, new_entropy=new_entropy)[0]

    l, g = grad_of(lambda x: loss(a, x), b.old_logp + d)
    _, g0 = grad_of(lambda x: loss(algo("tepo", kl_mask="none"), x), b.old_logp + d)
    x = b.old_logp + d
    k3_grad = 0.5 * (1 - torch.exp(ref - x)) / b.mask.sum()  # ∂/∂x of β·(e^{ref−x} − (ref−x) − 1), token mean
    torch.testing.assert_close(g - g0, torch.where(selected, k3_grad, torch.zeros_like(x)), atol=1e-9, rtol=0)


def test_bnpo_normalises_by_the_beta_density_fitted_to_the_batch():
    b = batch()
    b.rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    b.group = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    b.mask = torch.ones(8, 3, dtype=torch.bool)
    b.old_logp = torch.full((8, 3), -1.0)
    _, p = prepared("bnpo", b)
    means = torch.tensor([0.25] * 4 + [0.75] * 4)
    m, v = 0.5, 0.0625  # the two groups' success rates 0.25 and 0.75
    c = m * (1 - m) / v - 1
    density = stats.beta.pdf(means.numpy(), m * c, (1 - m) * c)
    expected = (b.rewards - means) / torch.tensor(density)
    torch.testing.assert_close(p.advantages[:, 0], expected)


def test_every_new_method_says_its_unit_ratio_advantage_and_aggregation():
    from harness.spec.plugins import ALGORITHMS

    for name, unit in [("tepo", "sequence"), ("gmpo", "sequence"), ("luspo", "sequence"), ("vespo", "sequence"),
                       ("sapo_soft", "token"), ("cispo", "token"), ("gpg", "token"), ("clip_cov", "token"),
                       ("kl_cov", "token"), ("bnpo", "token")]:
        described = ALGORITHMS.get(name).describe()
        assert described["unit"] == unit and {"ratio", "advantage", "aggregation"} <= set(described)



def test_clip_cov_draws_only_among_tokens_the_clip_left_alone():
    b = covariance_batch()
    d = perturbation(b, 0.05, seed=3)
    d[0, 0] = 0.5  # the highest-covariance token is already clipped (A > 0, ratio 1.65)
    new = b.old_logp + d
    advantages = algo("grpo").prepare(b).advantages
    cov = (advantages - advantages[b.mask].mean()) * (new - new[b.mask].mean())
    others = b.mask & (cov > 0.5) & (cov < 10.0)
    others[0, 0] = False
    n = int(b.mask.sum())
    assert others.sum() >= 2
    # a quota of exactly the unclipped candidates: all of them are masked, none is spent on the clipped token
    a, p = prepared("clip_cov", b, clip_cov_lb=0.5, clip_cov_ub=10.0, clip_cov_ratio=(int(others.sum()) + 0.5) / n)
    _, g = loss_and_grad(a, b, d)
    _, g_ppo = loss_and_grad(algo("grpo", aggregation="token_mean"), b, d)
    assert torch.equal((g == 0) & (g_ppo != 0), others)


def test_ktae_bonus_follows_the_sources_statistics_on_a_hand_made_group():
    from algorithms.ktae import group_key_token_bonus

    # correct: [1 2 3], [1 2 4]; wrong: [1 5 3], [1 5 6]
    bonus = group_key_token_bonus([[1, 2, 3], [1, 2, 4], [1, 5, 3], [1, 5, 6]], [True, True, False, False],
                                  term_frequency=False)
    assert bonus[1] == 0 and bonus[3] == 0  # in both sides equally: Fisher p = 1 and no information
    # token 5: in both wrong responses, no correct one — table [[0, 2], [2, 0]]
    p = stats.fisher_exact([[0, 2], [2, 0]])[1]
    assert abs(p - 1 / 3) < 1e-12
    key = (math.exp(-2 * p) + 1.0) * (0 - math.pi / 2) / 2  # IG = 1 bit, h = asin 0 − asin 1
    assert abs(bonus[5] - (2 * torch.sigmoid(torch.tensor(key)).item() - 1)) < 1e-12
    assert abs(bonus[2] + bonus[5]) < 1e-12 and bonus[2] > 0.5  # mirror image on the correct side
    assert group_key_token_bonus([[1, 2], [1, 3]], [True, True]) == {}  # no contrast, no bonus
    with_tf = group_key_token_bonus([[1, 2, 3], [1, 2, 4], [1, 5, 3], [1, 5, 6]], [True, True, False, False])
    assert 0 < bonus[2] < with_tf[2] <= 1  # the term-frequency contrast only strengthens the sign, bounded by the scale


@pytest.mark.parametrize("name,base", [("ktae", "grpo"), ("dapo_ktae", "dapo")])
def test_ktae_at_scale_zero_is_its_base_and_otherwise_adds_the_bonus_per_token(name, base):
    from algorithms.ktae import key_token_bonus

    b = batch()
    d = perturbation(b, 0.3)
    l0, g0 = loss_and_grad(algo(name, ktae_scale=0.0), b, d)
    lb, gb = loss_and_grad(algo(base), b, d)
    assert abs(l0 - lb) < 1e-12
    torch.testing.assert_close(g0, gb, atol=1e-12, rtol=0)
    a = algo(name)
    bonus = key_token_bonus(b.response_ids, b.mask, b.rewards, b.group)
    assert (bonus[b.mask].abs() > 0.1).sum() > b.mask.sum() / 2  # most tokens here are in one response of a pair
    torch.testing.assert_close(a.prepare(b).advantages, algo(base).prepare(b).advantages + bonus)
    assert "key-token" in a.describe()["advantage"]


def hapo_oracle(x, b, adv, new_entropy, pivot=0.8, eps=0.2, alpha=1.0, beta=1.0):
    """verl-HAPO's clip and advantage with the signed entropy score (token mean)."""
    m = b.mask
    logent = torch.log(new_entropy)
    vals = logent[m].sort().values
    centre = vals[round(pivot * (len(vals) - 1))]
    h = (logent - centre) * m
    h = h / torch.sqrt((h**2).sum() / m.sum())
    h = torch.where(h > 0, h / h.max(), h / -h.min())
    low = torch.where(h <= 0, eps * (1 - alpha * h), torch.full_like(h, eps))
    high = torch.where(h > 0, eps * (1 + alpha * h), torch.full_like(h, eps))
    r = torch.exp(x - b.old_logp)
    inside = (r.detach() > 1 - low / 2) & (r.detach() < 1 + high / 2)
    a = torch.where(h > 0, torch.where(inside, adv, adv * (1 + beta * h)), torch.where(inside, adv * (1 + beta * h), adv))
    per = torch.maximum(-a * r, -a * torch.clamp(r, 1 - low, 1 + high))
    return token_mean(per, m), h


def test_hapo_matches_its_entropy_adaptive_clip_and_advantage():
    b = batch()
    b.rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])  # no overlong shaping at these lengths (L_max 8, cache 8 → set 0)
    a, p = prepared("hapo", b, overlong_cache=0)
    new, _ = moved(b, 0.3)
    new_entropy = b.entropy.clamp_min(0.05)
    l_ref, g_ref = grad_of(lambda x: hapo_oracle(x, b, p.advantages, new_entropy)[0], new)
    l, g = grad_of(lambda x: a.loss(x, p, new_entropy=new_entropy)[0], new)
    assert abs(l - l_ref) < 1e-9
    torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=0)
    _, h = hapo_oracle(new, b, p.advantages, new_entropy)
    assert h[b.mask].max() == 1 and h[b.mask].min() == -1  # a signed score: low-entropy tokens below zero
    # with both adaptive pieces off and the z-score, HAPO is DAPO's loss at ε 0.2/0.2
    plain = algo("hapo", overlong_cache=0, adaptive_clip=False, adaptive_advantage=False, advantage="zscore")
    dapo = algo("dapo", overlong_cache=0, clip_high=0.2)
    _, g_plain = grad_of(lambda x: plain.loss(x, plain.prepare(b), new_entropy=new_entropy)[0], new)
    _, g_dapo = grad_of(lambda x: dapo.loss(x, dapo.prepare(b))[0], new)
    torch.testing.assert_close(g_plain, g_dapo, atol=1e-12, rtol=0)
    assert (g - g_plain).abs().max() > 1e-3


def test_hapo_normalises_over_the_groups_tokens_and_falls_back_on_outliers():
    from algorithms.hapo import token_group_normalised

    rewards, group = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]), torch.tensor([0, 0, 1, 1, 1, 1])
    lengths = torch.tensor([5, 3, 1, 400, 400, 400])
    out = token_group_normalised(rewards, group, lengths)
    mean = 5 / 8
    std = math.sqrt((5 * (1 - mean) ** 2 + 3 * mean**2) / 8)
    torch.testing.assert_close(out[:2], torch.tensor([(1 - mean) / std, -mean / std]), atol=1e-5, rtol=0)
    # group 1: one 1-token success among 1,200 failed tokens is |A| ≈ 35 token-wise: the z-score instead
    z = (rewards[2:] - 0.25) / (rewards[2:].std() + 1e-6)
    torch.testing.assert_close(out[2:], z)


def test_gtpo_conflict_tokens_on_a_hand_made_group():
    from algorithms.gtpo import conflict_weights

    rows = [[7, 8, 9, 4], [7, 8, 5, 4], [7, 8, 9, 4]]
    deltas, counts = conflict_weights(rows, [1.0, -1.0, 0.0], weight=2.0)
    # shared at the start: 7 8; at the end: 4. The positive row boosts them, the negative one protects them
    assert deltas == [[2.0, 2.0, 1.0, 2.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    assert counts == [3, 3, 0]
    # only the leading run counts: a match after a mismatch is not a conflict
    deltas, _ = conflict_weights([[1, 2, 3, 9], [5, 2, 3, 8]], [1.0, -1.0], weight=2.0)
    assert deltas == [[1.0] * 4] * 2
    # a one-token response in conflict from both ends is boosted twice
    deltas, counts = conflict_weights([[3], [3]], [1.0, -1.0], weight=2.0)
    assert deltas == [[4.0], [0.0]] and counts == [1, 1]


def test_gtpo_without_conflicts_or_entropy_shaping_is_grpo_and_filters_high_entropy_responses():
    b = batch()
    b.response_ids = torch.arange(b.mask.numel()).reshape(b.mask.shape) + 4  # every token distinct: no conflict
    d = perturbation(b, 0.3)
    l1, g1 = loss_and_grad(algo("gtpo", entropy_scale=0.0, entropy_threshold=1e9), b, d)
    l2, g2 = loss_and_grad(algo("grpo"), b, d)
    assert abs(l1 - l2) < 1e-12
    torch.testing.assert_close(g1, g2, atol=1e-12, rtol=0)
    b.entropy = torch.where(torch.arange(B)[:, None] == 0, 2.0, 0.5) * b.mask  # response 0 too uncertain
    _, p = prepared("gtpo", b)
    z = algo("grpo").prepare(b).advantages
    assert torch.all(p.advantages[0] == 0)
    torch.testing.assert_close(p.advantages[1:], (z[1:] - 0.1 * 0.5) * b.mask[1:])
