"""Policy-side tensor work shared by trainer, warm start and evaluator."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.training.logprobs import token_entropy, token_logprobs


def encode_prompt(tokenizer, text: str, chat: bool = False) -> list[int]:
    """Token ids of a prompt, with the model's BOS when it has one; with `chat`, as one user message
    through the tokenizer's chat template (when it has one; the template brings its own BOS)."""
    if chat and getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                  tokenize=True, return_dict=False))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + ids


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = True
    return ids, mask


def right_pad(rows: list[list], pad_value, dtype=torch.long) -> tuple[Tensor, Tensor]:
    width = max(1, max(len(r) for r in rows))
    values = torch.full((len(rows), width), pad_value, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        if r:
            values[i, : len(r)] = torch.tensor(r, dtype=dtype)
            mask[i, : len(r)] = True
    return values, mask


def response_logprobs(model: nn.Module, prompts: list[list[int]], responses: Tensor, response_mask: Tensor,
                      pad_id: int, temperature: float = 1.0, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """Log-probs (B, T) of right-padded `responses` after left-padded `prompts`, as the engine saw them.

    Prompts are left-padded and positions count real tokens only, the layout of batched generation,
    so these numbers match the engine's behaviour log-probs for unchanged weights.
    """
    device = next(model.parameters()).device
    prompt_ids, prompt_mask = left_pad(prompts, pad_id)
    ids = torch.cat([prompt_ids, torch.where(response_mask, responses, pad_id)], dim=1).to(device)
    attn = torch.cat([prompt_mask, response_mask], dim=1).to(device)
    positions = (attn.long().cumsum(dim=1) - 1).clamp(min=0)
    p, t = prompt_ids.shape[1], responses.shape[1]
    # the vocabulary projection only where a response token is predicted: not over the prompt
    predicting = torch.arange(p - 1, p - 1 + t, device=device)
    logits = model(input_ids=ids, attention_mask=attn.long(), position_ids=positions, logits_to_keep=predicting).logits
    logp = token_logprobs(logits, responses.to(device), temperature)
    entropy = token_entropy(logits, temperature) if with_entropy else None
    return torch.where(response_mask.to(device), logp, torch.zeros_like(logp)), entropy
