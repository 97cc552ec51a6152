"""`hf` engine: `transformers` generate with KV cache, batched, left padding.

It samples from the very model the trainer updates, so `sync_weights` has nothing to copy.
`decode: static` preallocates the KV cache; `decode: compiled` also compiles the decode step with
`torch.compile` (on a GPU in "reduce-overhead" mode, i.e. CUDA graphs: a small model's decode is
bound by kernel launches, not arithmetic). Prompt widths are rounded up to a multiple of
`PROMPT_WIDTH_STEP` so the compiled shapes repeat instead of recompiling for every batch.
Behaviour log-probs and entropies are those of the temperature-scaled distribution, before top-p
truncation, which is what the trainer recomputes (as verl does).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn
from transformers import (
    CompileConfig,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from harness.engines import register
from harness.engines.base import Generation, SamplingParams


@register("hf")
class HFEngine:
    logprobs_before_top_p = True  # recorded by a logits processor that runs before generate's top-p warper
    def __init__(self, model: nn.Module, tokenizer, batch_size: int = 512,
                 decode: Literal["dynamic", "static", "compiled"] = "dynamic"):
        self.model = model
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.eos_token_id
        self.batch_size = batch_size
        self.decode = decode

    def sync_weights(self, model: nn.Module) -> None:
        self.model = model

    @torch.no_grad()
    def generate(self, prompts: Sequence[list[int]], n: int, params: SamplingParams, seed: int,
                 limits: Sequence[int] | None = None) -> list[list[Generation]]:
        flat = [list(p) for p in prompts for _ in range(n)]
        flat_limits = [min(params.max_new_tokens, x) for x in limits for _ in range(n)] if limits is not None else None
        out: list[Generation] = []
        was_training = self.model.training
        self.model.eval()
        # a checkpoint's generation_config.json (repetition_penalty, min_length, no_repeat_ngram_size...)
        # would change the sampled distribution behind the trainer's back: sample with only our settings
        saved_config = self.model.generation_config
        self.model.generation_config = GenerationConfig(pad_token_id=self.pad_id, eos_token_id=self.eos_id,
                                                        bos_token_id=saved_config.bos_token_id)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for start in range(0, len(flat), self.batch_size):
                    rows = slice(start, start + self.batch_size)
                    out.extend(self._generate_batch(flat[rows], params, flat_limits[rows] if flat_limits else None))
        finally:
            self.model.train(was_training)
            self.model.generation_config = saved_config
        return [out[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, limits: list[int] | None) -> list[Generation]:
        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        if self.decode != "dynamic":
            width = -(-width // PROMPT_WIDTH_STEP) * PROMPT_WIDTH_STEP
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            attn[i, width - len(p) :] = 1
        greedy = params.temperature == 0
        stats = SampledTokenStats(1.0 if greedy else params.temperature)
        stop = StoppingCriteriaList([RowLimits(limits, width, device)] if limits else [])
        sequences = self.model.generate(
            input_ids=ids.to(device), attention_mask=attn.to(device),
            do_sample=not greedy, temperature=None if greedy else params.temperature,
            top_p=None if greedy else params.top_p, top_k=0,
            max_new_tokens=params.max_new_tokens, pad_token_id=self.pad_id, eos_token_id=self.eos_id,
            logits_processor=LogitsProcessorList([stats]), stopping_criteria=stop, **self._cache_options(device),
        )
        new = sequences[:, width:]
        token_logp, entropy = (t.cpu() for t in stats.finish(new))
        new = new.cpu()
        gens = []
        for i, p in enumerate(prompts):
            row = new[i].tolist()[: limits[i] if limits else None]
            finished = self.eos_id in row
            length = row.index(self.eos_id) + 1 if finished else len(row)
            gens.append(Generation(p, row[:length], token_logp[i, :length].tolist(), entropy[i, :length].tolist(), finished))
        return gens

    def _cache_options(self, device: torch.device) -> dict:
        if self.decode == "dynamic":
            return {}
        if self.decode == "static":  # transformers would otherwise compile a static cache's decode on a GPU by itself
            return {"cache_implementation": "static", "disable_compile": True}
        config = CompileConfig(mode="reduce-overhead" if device.type == "cuda" else "default")
        config._compile_all_devices = True  # transformers compiles only on accelerators unless told
        return {"cache_implementation": "static", "compile_config": config}


PROMPT_WIDTH_STEP = 32


class RowLimits(StoppingCriteria):
    """Each row stops at its own number of new tokens (a Monte-Carlo continuation of a longer prefix
    has fewer left): rows that reach it are finished and generate nothing more."""

    def __init__(self, limits: list[int], width: int, device):
        self.limits = torch.tensor(limits, device=device)
        self.width = width

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        return (input_ids.shape[1] - self.width) >= self.limits


class SampledTokenStats(LogitsProcessor):
    """Log-prob and entropy of each sampled token under softmax(logits / temperature), one decode step
    at a time: only the current step's (batch, vocabulary) scores exist, never (batch, length, vocabulary).

    `generate` applies custom processors before its temperature and top-p warpers, so the scores seen
    here are the model's logits. The token chosen at step t appears in `input_ids` at step t + 1.
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self.pending: torch.Tensor | None = None  # log-softmax of the step whose token is not yet known
        self.logprobs: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.pending is not None:
            self._take(input_ids[:, -1])
        logp = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        self.entropies.append(-(logp.exp() * logp).sum(-1))
        self.pending = logp
        return scores

    def _take(self, tokens: torch.Tensor) -> None:
        self.logprobs.append(self.pending.gather(-1, tokens[:, None]).squeeze(-1))
        self.pending = None

    def finish(self, new_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) log-probs and entropies of the generated tokens `new_tokens`."""
        if self.pending is not None:
            self._take(new_tokens[:, -1])
        return torch.stack(self.logprobs, dim=1), torch.stack(self.entropies, dim=1)
