"""The `hf` engine's behaviour log-probs and entropies are what the trainer recomputes, per token,
without the engine holding a (batch, length, vocabulary) tensor of logits."""

import pytest
import torch

from harness.engines.base import SamplingParams
from harness.engines.hf import HFEngine
from harness.spec.config import EmbeddedModel, WarmStart
from harness.training.embedded import base_checkpoint, load_checkpoint
from harness.training.policy import encode_prompt, response_logprobs, right_pad
from tasks.arith import Arith


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    spec = EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1)
    path, _ = base_checkpoint(spec, WarmStart(steps=20, batch_size=16), [Arith()], tmp_path_factory.mktemp("cache"))
    tokenizer, model = load_checkpoint(path)
    prompts = [encode_prompt(tokenizer, p.prompt) for p in Arith().eval_problems(6)]
    return model, tokenizer, HFEngine(model, tokenizer, batch_size=8), prompts


@pytest.mark.parametrize("temperature", [0.7, 1.0, 0.0])
def test_logprobs_and_entropies_match_the_recomputation(setup, temperature):
    model, tokenizer, engine, prompts = setup
    gens = [g for group in engine.generate(prompts, 3, SamplingParams(12, temperature), seed=1) for g in group]
    assert all(len(g.logprobs) == len(g.entropies) == len(g.response_ids) for g in gens)
    ids, mask = right_pad([g.response_ids for g in gens], tokenizer.pad_token_id)
    with torch.no_grad():
        logp, entropy = response_logprobs(model, [g.prompt_ids for g in gens], ids, mask, tokenizer.pad_token_id,
                                          temperature or 1.0, with_entropy=True)
    behaviour, _ = right_pad([g.logprobs for g in gens], 0.0, torch.float32)
    entropies, _ = right_pad([g.entropies for g in gens], 0.0, torch.float32)
    assert mask.sum() > 50
    torch.testing.assert_close(behaviour[mask], logp[mask], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(entropies[mask], entropy[mask], atol=1e-4, rtol=1e-4)


def test_seeds_are_honoured(setup):
    model, tokenizer, engine, prompts = setup
    a = engine.generate(prompts, 3, SamplingParams(12, 1.0), seed=4)
    b = HFEngine(model, tokenizer, batch_size=8).generate(prompts, 3, SamplingParams(12, 1.0), seed=4)
    assert [g.response_ids for grp in a for g in grp] == [g.response_ids for grp in b for g in grp]
    c = engine.generate(prompts, 3, SamplingParams(12, 1.0), seed=5)
    assert [g.response_ids for grp in a for g in grp] != [g.response_ids for grp in c for g in grp]


@pytest.mark.parametrize("decode", ["static", "compiled"])
def test_static_and_compiled_decoding_give_the_dynamic_cache_results(setup, decode):
    """A preallocated cache (wider left padding) and a compiled decode step change nothing but speed:
    the same greedy tokens, and sampled tokens whose log-probs match the trainer's recomputation."""
    model, tokenizer, engine, prompts = setup
    fast = HFEngine(model, tokenizer, batch_size=8, decode=decode)
    greedy = SamplingParams(12, 0.0)
    want = [g.response_ids for grp in engine.generate(prompts, 1, greedy, seed=0) for g in grp]
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    assert [g.response_ids for grp in fast.generate(prompts, 1, greedy, seed=0) for g in grp] == want
    assert (torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0) == (decode == "compiled")
    gens = [g for grp in fast.generate(prompts, 3, SamplingParams(12, 0.8), seed=2) for g in grp]
    ids, mask = right_pad([g.response_ids for g in gens], tokenizer.pad_token_id)
    with torch.no_grad():
        logp, _ = response_logprobs(model, [g.prompt_ids for g in gens], ids, mask, tokenizer.pad_token_id, 0.8)
    behaviour, _ = right_pad([g.logprobs for g in gens], 0.0, torch.float32)
    torch.testing.assert_close(behaviour[mask], logp[mask], atol=1e-4, rtol=1e-4)


def test_top_p_sampling_records_the_untruncated_logprobs(setup):
    """With top_p < 1 the engine still records log-probs before truncation: what the trainer recomputes."""
    model, tokenizer, engine, prompts = setup
    gens = [g for group in engine.generate(prompts, 4, SamplingParams(12, 1.0, top_p=0.9), seed=3) for g in group]
    ids, mask = right_pad([g.response_ids for g in gens], tokenizer.pad_token_id)
    with torch.no_grad():
        logp, _ = response_logprobs(model, [g.prompt_ids for g in gens], ids, mask, tokenizer.pad_token_id, 1.0)
    behaviour, _ = right_pad([g.logprobs for g in gens], 0.0, torch.float32)
    torch.testing.assert_close(behaviour[mask], logp[mask], atol=1e-4, rtol=1e-4)


def test_a_checkpoints_generation_config_does_not_change_sampling(setup, tmp_path):
    model, tokenizer, engine, prompts = setup
    want = [g.response_ids for grp in engine.generate(prompts, 3, SamplingParams(12, 1.0), seed=6) for g in grp]
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    import json

    config = json.loads((tmp_path / "generation_config.json").read_text())
    config.update(repetition_penalty=3.0, no_repeat_ngram_size=1, min_new_tokens=12, min_p=0.3, typical_p=0.5)
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    tokenizer2, loaded = load_checkpoint(tmp_path)
    assert loaded.generation_config.repetition_penalty == 3.0  # the leak is really there to be ignored
    got = [g.response_ids for grp in HFEngine(loaded, tokenizer2, batch_size=8).generate(prompts, 3, SamplingParams(12, 1.0), seed=6)
           for g in grp]
    assert got == want
    assert loaded.generation_config.repetition_penalty == 3.0  # and the model's own config is restored
