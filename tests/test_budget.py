import pytest

from harness.training.budget import Budget


def test_flops_are_2n_per_generated_or_forwarded_and_6n_per_trained_token():
    b = Budget("flops", limit=1e9, n_params=1000)
    b.charge(generated=10, forwarded=5)
    assert b.flops == 2 * 1000 * 15
    b.charge(trained=7)
    assert b.flops == 2 * 1000 * 15 + 6 * 1000 * 7
    assert b.spent == b.flops
    assert not b.exhausted


def test_budget_is_exhausted_exactly_at_the_limit():
    b = Budget("flops", limit=12_000, n_params=1000)
    b.charge(trained=1)  # 6,000
    assert not b.exhausted
    b.charge(generated=3)  # +6,000 = 12,000
    assert b.exhausted


def test_token_budget_counts_generated_tokens_only():
    b = Budget("tokens", limit=100, n_params=10)
    b.charge(generated=60, forwarded=1000, trained=1000)
    assert b.spent == 60 and not b.exhausted
    b.charge(generated=40)
    assert b.exhausted


@pytest.mark.parametrize("limit", [0, -5])
def test_non_positive_limit_is_refused(limit):
    with pytest.raises(ValueError, match="> 0"):
        Budget("flops", limit=limit, n_params=10)


def test_snapshot_reports_fraction():
    b = Budget("tokens", limit=200, n_params=10)
    b.charge(generated=50)
    assert b.snapshot()["budget_fraction"] == pytest.approx(0.25)
