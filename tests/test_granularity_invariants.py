"""Invariants of the granularity family (float64, 1e-6), on batches built by hand."""

import pytest
import torch

from algorithms.batch import RolloutBatch
from harness.spec.plugins import ALGORITHMS, make_algorithm

pytestmark = pytest.mark.usefixtures("float64")

LENGTHS = [5, 3, 7, 4]
REWARDS = [1.0, 0.0, 0.0, 1.0]
GROUP = [0, 0, 1, 1]


def table_value(prefixes, n):
    """A deterministic value service (the real one is tested with the engine in test_units_and_advantages)."""
    return torch.tensor([((7 * r + 3 * cut) % 5) / 4 for r, cut in prefixes], dtype=torch.float64)


def batch(left_pad=False, pad_id=0, garbage=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = max(LENGTHS)
    old = torch.log(torch.rand(len(LENGTHS), t, generator=g) * 0.9 + 0.05)
    ent = torch.rand(len(LENGTHS), t, generator=g) * 2
    ids = torch.randint(4, 50, (len(LENGTHS), t), generator=g)
    mask = torch.tensor([[j < n for j in range(t)] for n in LENGTHS])
    if left_pad:
        shift = lambda x: torch.stack([torch.roll(row, t - n) for row, n in zip(x, LENGTHS)])
        old, ent, ids, mask = shift(old), shift(ent), shift(ids), shift(mask)
    fill = lambda x, v: torch.where(mask, x, torch.full_like(x, v))
    return RolloutBatch(response_ids=fill(ids, pad_id), mask=mask, old_logp=fill(old, garbage), entropy=fill(ent, garbage),
                        rewards=torch.tensor(REWARDS), group=torch.tensor(GROUP), max_new_tokens=8)


def perturbation(b, scale=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b.old_logp.shape, generator=g) * scale


def loss_and_grad(algo, b, delta=None, ref=None):
    prepared = algo.prepare(b, table_value)
    new = (b.old_logp + (delta if delta is not None else 0)).clone().requires_grad_(True)
    loss, _ = algo.loss(new, prepared, ref, new_entropy=current_entropy(algo, b))
    loss.backward()
    return loss.detach(), new.grad


def current_entropy(algo, b):
    """The current policy's entropy where an algorithm reads it (on-policy it is the behaviour's)."""
    return b.entropy if algo.needs_current_entropy else None


def algo(name, **params):
    return make_algorithm(name, {"kl_coef": 0.0, **params} if "kl_coef" in ALGORITHMS.get(name).describe()["defaults"] else params)


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_on_policy_grpo_gspo_and_mpo_share_the_gradient_and_off_policy_they_differ(k):
    b = batch()
    _, g_grpo = loss_and_grad(algo("grpo"), b)
    _, g_gspo = loss_and_grad(algo("gspo"), b)
    _, g_mpo = loss_and_grad(algo("mpo", k=k), b)
    torch.testing.assert_close(g_gspo, g_grpo, atol=1e-6, rtol=0)
    torch.testing.assert_close(g_mpo, g_grpo, atol=1e-6, rtol=0)
    d = perturbation(b)  # a second minibatch update sees a moved policy
    _, o_grpo = loss_and_grad(algo("grpo"), b, d)
    _, o_gspo = loss_and_grad(algo("gspo"), b, d)
    assert (o_grpo - o_gspo).abs().max() > 1e-3
    if k > 1:
        _, o_mpo = loss_and_grad(algo("mpo", k=k), b, d)
        assert (o_mpo - o_grpo).abs().max() > 1e-3


def test_mpo_k1_equals_grpo_in_loss_and_gradient():
    b = batch()
    d = perturbation(b, scale=0.4)  # large enough that some tokens clip
    grpo = algo("grpo")
    mpo = algo("mpo", k=1)
    prepared = mpo.prepare(b)
    for e_mpo, e_grpo in zip(mpo.epsilons(prepared), grpo.epsilons(grpo.prepare(b))):
        torch.testing.assert_close(e_mpo[b.mask], e_grpo[b.mask])
    l1, g1 = loss_and_grad(grpo, b, d)
    l2, g2 = loss_and_grad(mpo, b, d)
    assert abs(l1 - l2) < 1e-6
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)
    _, metrics = grpo.loss(b.old_logp + d, grpo.prepare(b))
    assert metrics["clip_frac"] > 0  # the comparison exercised the clip


@pytest.mark.parametrize("clip", [0.05, 3e-4])
def test_mpo_with_k_at_least_the_length_equals_gspo(clip):
    b = batch()
    d = perturbation(b, scale=0.1)
    mpo = algo("mpo", k=max(LENGTHS), clip_low=clip, clip_high=clip)
    gspo = algo("gspo", clip_low=clip, clip_high=clip)
    l1, g1 = loss_and_grad(mpo, b, d)
    l2, g2 = loss_and_grad(gspo, b, d)
    assert abs(l1 - l2) < 1e-6
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)


def test_gspo_token_equals_gspo_with_equal_token_advantages():
    b = batch()
    for scale in (0.0, 1e-4, 0.2):
        d = perturbation(b, scale=scale)
        l1, g1 = loss_and_grad(algo("gspo"), b, d)
        l2, g2 = loss_and_grad(algo("gspo_token"), b, d)
        assert abs(l1 - l2) < 1e-6
        torch.testing.assert_close(g1, g2, atol=1e-6, rtol=0)


def reinforce_weights(a, prepared):
    """Per-token weight w ≥ 0 such that the REINFORCE gradient of the loss is −A·w·∇log π."""
    lmask = prepared.loss_mask.to(torch.float64)
    if a.aggregation == "seq_mean_token_mean":
        return lmask / lmask.sum(1, keepdim=True).clamp(min=1) / len(LENGTHS)
    if a.aggregation == "token_mean":
        return lmask / lmask.sum()
    if a.aggregation == "seq_mean_token_sum":
        return lmask / len(LENGTHS)
    return lmask / (len(LENGTHS) * prepared.max_new_tokens)


# Clip-Cov's covariance mask acts even on-policy (it is tested on its own in test_literature_algorithms):
# here its band is put out of reach so that the rest of its loss is checked; GTPO's entropy filter
# would drop every response of this batch (mean entropy ~1 nat); HAPO reweights low-entropy tokens'
# advantages inside its neutral zone, at ratio one too (its whole loss: test_literature_algorithms)
ON_POLICY_PARAMS = {"clip_cov": {"clip_cov_lb": 1e6, "clip_cov_ub": 2e6}, "gtpo": {"entropy_threshold": 10.0},
                    "hapo": {"adaptive_advantage": False}}


@pytest.mark.parametrize("name", sorted(ALGORITHMS.names()))
def test_every_algorithm_at_ratio_one_has_the_reinforce_gradient(name):
    b = batch()
    a = algo(name, **ON_POLICY_PARAMS.get(name, {}))
    prepared = a.prepare(b, table_value)
    new = b.old_logp.clone().requires_grad_(True)
    loss, _ = a.loss(new, prepared, new_entropy=current_entropy(a, b))
    loss.backward()
    expected = -prepared.advantages * reinforce_weights(a, prepared)
    torch.testing.assert_close(new.grad, expected, atol=1e-6, rtol=0)
    assert prepared.advantages[prepared.loss_mask].abs().sum() > 0  # the check is not vacuous


@pytest.mark.parametrize("name", sorted(ALGORITHMS.names()))
def test_padding_never_changes_the_loss(name):
    a = algo(name)
    reference = None
    for left, pad_id, garbage in [(False, 0, 0.0), (True, 0, 0.0), (False, 3, -7.0), (True, 1, 5.0)]:
        b = batch(left_pad=left, pad_id=pad_id, garbage=garbage)
        d = perturbation(batch())  # same perturbation per real token
        if left:
            t = b.mask.shape[1]
            d = torch.stack([torch.roll(row, t - n) for row, n in zip(d, LENGTHS)])
        loss, grad = loss_and_grad(a, b, d)
        real = grad[b.mask]
        if reference is None:
            reference = (loss, real)
        else:
            assert abs(loss - reference[0]) < 1e-9, (left, pad_id, garbage)
            torch.testing.assert_close(real, reference[1], atol=1e-9, rtol=0)
        assert torch.all(grad[~b.mask] == 0)
