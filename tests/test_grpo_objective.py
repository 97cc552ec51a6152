"""GRPO's loss and gradient against a hand-computed example (algorithms.md §4)."""

import math

import pytest
import torch

from algorithms.batch import RolloutBatch
from algorithms.grpo import GRPO


def make_batch(old, rewards, group, garbage=0.0):
    """Right-padded (B, T) batch from ragged lists; padding filled with `garbage`."""
    t = max(len(r) for r in old)
    mask = torch.tensor([[j < len(r) for j in range(t)] for r in old])
    old_t = torch.tensor([r + [garbage] * (t - len(r)) for r in old], dtype=torch.float64)
    return RolloutBatch(response_ids=torch.zeros(len(old), t, dtype=torch.long), mask=mask, old_logp=old_t,
                        rewards=torch.tensor(rewards, dtype=torch.float64), group=torch.tensor(group), max_new_tokens=4)


def test_grpo_loss_and_gradient_match_hand_computation():
    old = [[-1.0, -2.0], [-1.0, -1.5, -0.7]]
    lam = [[0.1, 0.5], [-0.1, -0.5, 0.0]]
    batch = make_batch(old, [1.0, 0.0], [0, 0])
    new = torch.tensor([[o + l for o, l in zip(orow, lrow)] + [0.0] * (3 - len(orow)) for orow, lrow in zip(old, lam)],
                       dtype=torch.float64, requires_grad=True)
    algo = GRPO(kl_coef=0.0)
    loss, metrics = algo.loss(new, algo.prepare(batch))
    loss.backward()

    a = 0.5 / (math.sqrt(0.5) + 1e-6)  # z-score of rewards (1, 0): mean 0.5, unbiased std sqrt(0.5)
    e = math.exp
    # response 1 (A=+a): token 1 unclipped; token 2 ratio e^0.5 > 1.2 → clipped to 1.2, no gradient
    # response 2 (A=-a): token 1 unclipped; token 2 ratio e^-0.5 < 0.8 → clipped to 0.8; token 3 ratio 1
    expected = -((e(0.1) * a + 1.2 * a) / 2 + (-e(-0.1) * a - 0.8 * a - a) / 3) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-9)
    expected_grad = torch.tensor([[-a * e(0.1) / 4, 0.0, 0.0], [a * e(-0.1) / 6, 0.0, a / 6]], dtype=torch.float64)
    torch.testing.assert_close(new.grad, expected_grad, atol=1e-9, rtol=0)
    assert metrics["clip_frac"] == pytest.approx(2 / 5)


def test_grpo_k3_kl_term():
    old = [[-1.0, -2.0], [-0.5]]
    batch = make_batch(old, [1.0, 1.0], [0, 0])  # equal rewards → zero advantage, only KL remains
    new = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([[-1.2, -1.0], [-0.5, 0.0]], dtype=torch.float64)
    algo = GRPO(kl_coef=0.04)
    loss, _ = algo.loss(new, algo.prepare(batch), ref)
    k3 = lambda d: math.exp(d) - d - 1
    expected = 0.04 * ((k3(-0.2) + k3(1.0)) / 2 + k3(0.0) / 1) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    loss.backward()
    # d/dnew of k3(ref - new) = 1 - exp(ref - new)
    g = lambda d: 1 - math.exp(d)
    expected_grad = torch.tensor([[0.04 * g(-0.2) / 4, 0.04 * g(1.0) / 4], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(new.grad, expected_grad, atol=1e-12, rtol=0)


def test_padding_values_never_reach_the_loss():
    old = [[-1.0, -2.0], [-1.0, -1.5, -0.7]]
    algo = GRPO(kl_coef=0.0)
    losses = []
    for garbage in (0.0, 37.0, -1e4):
        batch = make_batch(old, [1.0, 0.0], [0, 0], garbage=garbage)
        new = batch.old_logp.clone() + 0.05
        new[0, 2] = garbage
        losses.append(algo.loss(new, algo.prepare(batch))[0].item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-12) == pytest.approx(losses[2], abs=1e-12)


def test_all_equal_group_gives_zero_advantage():
    batch = make_batch([[-1.0], [-2.0], [-3.0]], [1.0, 1.0, 1.0], [5, 5, 5])
    prepared = GRPO().prepare(batch)
    assert torch.all(prepared.advantages == 0)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="clip range"):
        GRPO(clip_low=1.5)
    with pytest.raises(ValueError, match="aggregation"):
        GRPO(aggregation="median")
