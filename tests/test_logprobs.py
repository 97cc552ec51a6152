"""Block-wise token log-probs: the values and gradients of the plain full-vocabulary computation,
without keeping its float32 copies; and the trainer's recomputation projects only response positions."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.training.logprobs import token_entropy, token_logprobs
from harness.training.policy import response_logprobs


def reference(logits, tokens, temperature):
    logp = torch.log_softmax(logits.double() / temperature, dim=-1)
    return logp.gather(-1, tokens[..., None]).squeeze(-1), -(logp.exp() * logp).sum(-1)


@pytest.mark.parametrize("rows", [1, 3, None])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_values_and_entropies_equal_the_full_log_softmax(rows, temperature):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 5, 11, generator=g) * 3
    tokens = torch.randint(0, 11, (4, 5), generator=g)
    want_logp, want_entropy = reference(logits, tokens, temperature)
    close = dict(atol=1e-5, rtol=1e-6)  # float32 against float64
    torch.testing.assert_close(token_logprobs(logits, tokens, temperature, rows).double(), want_logp, **close)
    torch.testing.assert_close(token_entropy(logits, temperature, rows).double(), want_entropy, **close)


@pytest.mark.parametrize("rows", [1, 4, 64])
def test_gradient_passes_gradcheck_across_blocks(rows):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 7, (3, 4), generator=g)
    assert torch.autograd.gradcheck(lambda x: token_logprobs(x, tokens, 0.8, rows), (logits,))


def test_bfloat16_logits_get_a_bfloat16_gradient_of_the_float32_computation():
    g = torch.Generator().manual_seed(2)
    logits = (torch.randn(6, 9, 50, generator=g) * 4).bfloat16().requires_grad_()
    tokens = torch.randint(0, 50, (6, 9), generator=g)
    weights = torch.randn(6, 9, generator=g)
    logp = token_logprobs(logits, tokens, 0.7, rows=5)
    assert logp.dtype == torch.float32
    (logp * weights).sum().backward()
    exact = logits.detach().float().requires_grad_()
    want, _ = reference(exact, tokens, 0.7)
    (want.float() * weights).sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    torch.testing.assert_close(logp, want.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits.grad.float(), exact.grad, atol=1e-2, rtol=1e-2)


def test_response_logprobs_equal_the_slice_of_the_full_forward():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, pad_token_id=0))
    prompts = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    responses = torch.tensor([[14, 15, 16], [17, 0, 0], [18, 19, 0]])
    mask = responses != 0
    logp, entropy = response_logprobs(model, prompts, responses, mask, pad_id=0, temperature=0.9, with_entropy=True)
    logp.sum().backward()
    got_grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    for i, (prompt, row) in enumerate(zip(prompts, responses)):
        ids = torch.tensor([prompt + row[mask[i]].tolist()])
        full = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        want_logp, want_entropy = reference(full, row[mask[i]], 0.9)
        want_logp.sum().backward()
        torch.testing.assert_close(logp[i, mask[i]].double(), want_logp, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(entropy[i, mask[i]].double(), want_entropy, atol=1e-5, rtol=1e-5)
        assert (logp[i, ~mask[i]] == 0).all()
    torch.testing.assert_close(got_grad, model.lm_head.weight.grad, atol=1e-5, rtol=1e-4)
