"""Checks that need a CUDA device (`pytest -m gpu`; `benchmarks/gpu_check.sh` runs them). Skipped
elsewhere: nothing in CI depends on them."""

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def cuda_model():
    from harness.spec.config import EmbeddedModel
    from harness.training.embedded import build_model, build_tokenizer
    from harness.training.policy import encode_prompt
    from tasks.arith import Arith

    tokenizer = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2, num_kv_heads=1),
                        tokenizer, 0).to("cuda")
    prompts = [encode_prompt(tokenizer, p.prompt) for p in Arith().eval_problems(8)]
    return model, tokenizer, prompts


def test_decode_modes_agree_on_cuda(cuda_model):
    from harness.engines.base import SamplingParams
    from harness.engines.hf import HFEngine

    model, tokenizer, prompts = cuda_model
    greedy = SamplingParams(16, 0.0)
    tokens = {}
    for decode in ("dynamic", "static", "compiled"):
        engine = HFEngine(model, tokenizer, batch_size=8, decode=decode)
        tokens[decode] = [g.response_ids for grp in engine.generate(prompts, 1, greedy, seed=0) for g in grp]
    assert tokens["static"] == tokens["dynamic"] and tokens["compiled"] == tokens["dynamic"]


def test_a_training_step_moves_the_weights_on_cuda(cuda_model):
    from harness.engines.hf import HFEngine
    from harness.spec.config import Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.trainer import Trainer
    from tasks.arith import Arith

    model, tokenizer, _ = cuda_model
    before = [p.detach().clone() for p in model.parameters()]
    budget = Budget("flops", 1.0, sum(p.numel() for p in model.parameters()))  # one step
    Trainer(model=model, tokenizer=tokenizer, engine=HFEngine(model, tokenizer), task=Arith(),
            algorithm=make_algorithm("grpo", {}), rollout_cfg=Rollout(prompts_per_step=4, samples_per_prompt=4, max_new_tokens=12),
            train_cfg=Train(lr=1e-2, warmup_steps=0), budget=budget, seed=0).train(None)
    moved = sum(not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))
    assert moved > 0 and all(p.device.type == "cuda" for p in model.parameters())


def test_bf16_log_probs_match_float32():
    from harness.training.logprobs import token_logprobs

    torch.manual_seed(0)
    logits = torch.randn(4, 64, 32_000, device="cuda") * 3
    tokens = torch.randint(0, 32_000, (4, 64), device="cuda")
    exact = token_logprobs(logits, tokens)
    low = token_logprobs(logits.to(torch.bfloat16), tokens)
    assert (low.float() - exact).abs().max() < 0.1  # bf16 logits carry ~3 significant digits


def test_vllm_engine_on_cuda_if_installed(cuda_model):
    pytest.importorskip("vllm")
    from harness.engines.base import SamplingParams
    from harness.engines.vllm import VLLMEngine

    model, tokenizer, prompts = cuda_model
    engine = VLLMEngine(model, tokenizer)
    groups = engine.generate(prompts, 2, SamplingParams(12, 1.0), seed=0)
    assert len(groups) == len(prompts) and all(len(g.response_ids) == len(g.logprobs) for grp in groups for g in grp)
