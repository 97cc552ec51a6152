"""Each partition and advantage estimator on hand-made inputs; SPO's MC values through the real engine."""

import math
import random

import pytest
import torch

from algorithms.advantages import group_mean_baseline, group_zscore, leave_one_out
from algorithms.batch import RolloutBatch
from algorithms.dapo import overlong_penalty
from algorithms.montecarlo import prompt_values, segment_advantages
from algorithms.segments import cutpoint_segment_starts, entropy_segment_ends
from algorithms.units import (
    block_units,
    sequence_units,
    token_units,
    units_from_ends,
    units_from_starts,
)


def mask_of(n, width, left=False):
    row = [j < n for j in range(width)]
    return torch.tensor([row[::-1] if left else row])


def test_block_units_with_a_short_last_block_and_left_padding():
    assert block_units(mask_of(7, 9), 3).tolist() == [[0, 0, 0, 1, 1, 1, 2, -1, -1]]
    assert block_units(mask_of(7, 9, left=True), 3).tolist() == [[-1, -1, 0, 0, 0, 1, 1, 1, 2]]
    assert token_units(mask_of(3, 4)).tolist() == [[0, 1, 2, -1]]
    assert sequence_units(mask_of(3, 4)).tolist() == [[0, 0, 0, -1]]
    with pytest.raises(ValueError):
        block_units(mask_of(3, 4), 0)


def test_spo_cut_points_and_segment_boundaries():
    probs = torch.tensor([[0.95, 0.5, 0.99, 0.3, 0.2, 0.97, 0.1, 0.5]])
    mask = mask_of(7, 8)
    starts = cutpoint_segment_starts(torch.log(probs), mask, rho=0.9, interval=2)
    # cut points (p < 0.9) at 1, 3, 4, 6; every 2nd from the first opens a segment: 1 and 4
    assert torch.nonzero(starts[0]).flatten().tolist() == [1, 4]
    assert units_from_starts(mask, starts).tolist() == [[0, 1, 1, 1, 2, 2, 2, -1]]
    every = cutpoint_segment_starts(torch.log(probs), mask, rho=0.9, interval=1)
    assert torch.nonzero(every[0]).flatten().tolist() == [1, 3, 4, 6]


def test_sapo_entropy_segments_end_at_top_entropy_tokens_and_the_last():
    entropy = torch.tensor([[0.1, 2.0, 0.3, 1.5, 0.2, 0.05, 9.0]])
    mask = mask_of(6, 7)  # the 9.0 is padding and must be ignored
    ends = entropy_segment_ends(entropy, mask, top_frac=0.3)  # ceil(0.3 * 6) = 2 → positions 1 and 3, plus last (5)
    assert torch.nonzero(ends[0]).flatten().tolist() == [1, 3, 5]
    assert units_from_ends(mask, ends).tolist() == [[0, 0, 1, 1, 2, 2, -1]]


def test_group_advantages_by_hand():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    g = torch.tensor([0, 0, 0, 0, 1, 1])
    mean0 = 0.25
    std0 = math.sqrt(((0.75) ** 2 + 3 * 0.25**2) / 3)
    assert group_mean_baseline(r, g).tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, 0, 0])
    assert group_zscore(r, g).tolist() == pytest.approx([0.75 / std0, -0.25 / std0, -0.25 / std0, -0.25 / std0, 0, 0], rel=1e-5)
    # RLOO: r_i − mean of the other three
    assert leave_one_out(r, g).tolist() == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3, 0, 0])
    assert prompt_values(r, g).tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    assert mean0 == r[:4].mean().item()


def test_dapo_overlong_shaping():
    lengths = torch.tensor([10, 24, 28, 32])
    assert overlong_penalty(lengths, max_len=32, cache=8).tolist() == pytest.approx([0, 0, -0.5, -1.0])


def test_segment_advantages_are_value_differences():
    mask = mask_of(6, 6).repeat(2, 1)
    batch = RolloutBatch(response_ids=torch.zeros(2, 6, dtype=torch.long), mask=mask, old_logp=torch.zeros(2, 6),
                         rewards=torch.tensor([1.0, 0.0]), group=torch.tensor([0, 0]), max_new_tokens=6)
    starts = torch.zeros(2, 6, dtype=torch.bool)
    starts[0, 2] = starts[0, 4] = starts[1, 3] = True
    values = {(0, 2): 0.5, (0, 4): 0.75, (1, 3): 0.25}
    asked = []

    def estimator(prefixes, n):
        asked.append((sorted(prefixes), n))
        return torch.tensor([values[p] for p in prefixes])

    adv = segment_advantages(batch, starts, estimator, n=3)
    assert asked == [(sorted(values), 3)]
    # row 0: V(prompt) = other response's reward 0 → 0.5 → 0.75 → own reward 1
    assert adv[0].tolist() == pytest.approx([0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    # row 1: V(prompt) = 1 → 0.25 → own reward 0
    assert adv[1].tolist() == pytest.approx([-0.75, -0.75, -0.75, -0.25, -0.25, -0.25])


@pytest.fixture(scope="module")
def tiny_trainer():
    from harness.engines.hf import HFEngine
    from harness.spec.config import EmbeddedModel, Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.embedded import build_model, build_tokenizer
    from harness.training.trainer import Trainer
    from tasks.arith import Arith

    tok = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tok, 0)
    budget = Budget("flops", 1e15, sum(p.numel() for p in model.parameters()))
    return Trainer(model=model, tokenizer=tok, engine=HFEngine(model, tok), task=Arith(), algorithm=make_algorithm("spo_segment", {}),
                   rollout_cfg=Rollout(prompts_per_step=2, samples_per_prompt=2, max_new_tokens=12), train_cfg=Train(),
                   budget=budget, seed=0)


def test_spo_monte_carlo_values_through_the_real_engine(tiny_trainer):
    from harness.engines.base import Generation
    from harness.training.trainer import Rollout as Samples

    tr = tiny_trainer
    problem = tr.task.train_problems(1, random.Random(3))[0]
    right = tr.tokenizer(f"#### {problem.answer}", add_special_tokens=False)["input_ids"] + [tr.tokenizer.eos_token_id]
    prompt = [tr.tokenizer.bos_token_id] + tr.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]
    gen = Generation(prompt, right, [0.0] * len(right), [0.0] * len(right), True)
    samples = Samples([problem], [prompt], [gen], [tr.task.score(problem, f"#### {problem.answer}")])
    estimate = tr.value_estimator(samples)
    before = tr.budget.generated_tokens
    full = len(right)
    values = estimate([(0, full), (0, 0), (0, 2)], 5)
    assert values.shape == (3,)
    assert values[0].item() == 1.0  # the whole correct response: every continuation is cut to nothing
    assert 0.0 <= values[1].item() <= 1.0 and 0.0 <= values[2].item() <= 1.0
    assert tr.budget.generated_tokens - before >= 5 * 2  # every continuation was charged
    again = tiny_trainer.value_estimator(samples)([(0, full)], 2)
    assert again.tolist() == [1.0]


def test_spo_step_trains_with_engine_values(tiny_trainer):
    row = tiny_trainer.step(1)
    assert math.isfinite(row["loss"]) and row["updates"] >= 1


def test_monte_carlo_continuations_are_charged_only_for_what_they_can_use(tiny_trainer):
    """A prefix of `cut` tokens gets limit − cut new tokens, never more (nothing generated past it is
    charged), and a prefix that already ended generates nothing."""
    from harness.engines.base import Generation
    from harness.training.trainer import Rollout as Samples

    tr = tiny_trainer
    limit = tr.rollout_cfg.max_new_tokens
    problem = tr.task.train_problems(1, random.Random(4))[0]
    prompt = [tr.tokenizer.bos_token_id] + tr.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]
    unfinished = tr.tokenizer("12+3=15\n", add_special_tokens=False)["input_ids"][:limit - 2]
    ended = unfinished[:3] + [tr.tokenizer.eos_token_id]
    gens = [Generation(prompt, ids, [0.0] * len(ids), [0.0] * len(ids), ids[-1] == tr.tokenizer.eos_token_id)
            for ids in (unfinished, ended)]
    samples = Samples([problem] * 2, [prompt] * 2, gens, [tr.task.score(problem, "") for _ in gens])
    cuts = [(0, len(unfinished)), (0, 1), (1, len(ended))]
    before = tr.budget.generated_tokens
    continuations = []
    original = tr.engine.generate
    tr.engine.generate = lambda *a, **k: continuations.append(original(*a, **k)) or continuations[-1]
    try:
        tr.value_estimator(samples)(cuts, 3)
    finally:
        tr.engine.generate = original
    (groups,) = continuations
    assert len(groups) == 2  # the ended prefix generated nothing
    for (row, cut), group in zip(cuts, groups):
        assert all(len(g.response_ids) <= limit - cut for g in group)
    spent = tr.budget.generated_tokens - before
    assert spent == sum(len(g.response_ids) for group in groups for g in group) <= 3 * ((limit - cuts[0][1]) + (limit - 1))


def test_a_sampler_that_is_not_the_trained_distribution_stops_the_run():
    """An engine whose recorded log-probs are not the model's (here: shifted by 0.05 nats, as a
    leaked repetition penalty would) stops at step 1 with the likely causes named."""
    from dataclasses import replace

    from harness.engines.hf import HFEngine
    from harness.spec.config import EmbeddedModel, Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.embedded import build_model, build_tokenizer
    from harness.training.trainer import Trainer, TrainingDiverged
    from tasks.arith import Arith

    class SkewedEngine(HFEngine):
        def generate(self, *args, **kwargs):
            groups = super().generate(*args, **kwargs)
            return [[replace(g, logprobs=[lp - 0.05 for lp in g.logprobs]) for g in group] for group in groups]

    tok = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tok, 0)

    def trainer(engine_cls):
        budget = Budget("flops", 1.0, sum(p.numel() for p in model.parameters()))  # one step
        return Trainer(model=model, tokenizer=tok, engine=engine_cls(model, tok), task=Arith(), algorithm=make_algorithm("grpo", {}),
                       rollout_cfg=Rollout(prompts_per_step=2, samples_per_prompt=2, max_new_tokens=8),
                       train_cfg=Train(), budget=budget, seed=0)

    with pytest.raises(TrainingDiverged, match="generation_config"):
        trainer(SkewedEngine).train(None)
    assert trainer(HFEngine).train(None)[0]["behaviour_gap"] < 1e-3


def test_bf16_mixed_precision_keeps_float32_weights_and_log_probs_close():
    from harness.engines.hf import HFEngine
    from harness.spec.config import EmbeddedModel, Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.embedded import build_model, build_tokenizer
    from harness.training.policy import response_logprobs, right_pad
    from harness.training.trainer import Trainer
    from tasks.arith import Arith

    tok = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tok, 0).float()
    budget = Budget("flops", 1.0, sum(p.numel() for p in model.parameters()))  # one step
    trainer = Trainer(model=model, tokenizer=tok, engine=HFEngine(model, tok), task=Arith(), algorithm=make_algorithm("grpo", {}),
                      rollout_cfg=Rollout(prompts_per_step=2, samples_per_prompt=4, max_new_tokens=8),
                      train_cfg=Train(mixed_precision="bf16", warmup_steps=0), budget=budget, seed=0)
    gens = [g for group in trainer.engine.generate([[1, 2, 3]] * 2, 4, trainer.params, seed=0) for g in group]
    ids, mask = right_pad([g.response_ids for g in gens], tok.pad_token_id)
    prompts = [g.prompt_ids for g in gens]
    with torch.no_grad():
        exact, _ = response_logprobs(model, prompts, ids, mask, tok.pad_token_id, 1.0)
        with trainer.autocast():
            low, _ = response_logprobs(model, prompts, ids, mask, tok.pad_token_id, 1.0)
    assert mask.sum() > 10 and 0 < (low.float() - exact)[mask].abs().max() < 0.1  # bf16 differs, but a little
    row = trainer.train(None)[0]
    assert row["behaviour_gap"] < 1e-6  # the behaviour log-probs were recomputed under the same autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(v.dtype == torch.float32 for state in trainer.optimizer.state.values() for v in state.values() if torch.is_tensor(v) and v.numel() > 1)
