"""Peak memory and time of token log-probs + backward: the plain float32 log-softmax vs grainbench's
block-wise `token_logprobs`, on bf16 logits of a Qwen-sized vocabulary.

Each variant runs in a fresh process and reports its peak resident memory above the logits
themselves (CPU) or its peak CUDA allocation (GPU).

    python benchmarks/logprobs_memory.py                 # 8 rows × 256 tokens × 151,936 words
    python benchmarks/logprobs_memory.py --rows 64       # a whole 8 × 8 rollout batch (GPU)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def plain(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    x = logits.float() / 0.9
    return x.gather(-1, tokens[..., None]).squeeze(-1) - torch.logsumexp(x, dim=-1)


def blockwise(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    from harness.training.logprobs import token_logprobs

    return token_logprobs(logits, tokens, 0.9)


def peak_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(variant: str, rows: int, length: int, vocab: int) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device).manual_seed(0)
    logits = torch.randn(rows, length, vocab, generator=g, device=device, dtype=torch.bfloat16).requires_grad_()
    tokens = torch.randint(0, vocab, (rows, length), generator=g, device=device)
    weights = torch.randn(rows, length, generator=g, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = peak_bytes(device)
    start = time.perf_counter()
    ((plain if variant == "plain" else blockwise)(logits, tokens) * weights).sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    logits_gb = logits.numel() * logits.element_size() / 1e9
    extra_gb = (peak_bytes(device) - before) / 1e9 if device == "cpu" else peak_bytes(device) / 1e9 - logits_gb
    return {"variant": variant, "seconds": seconds, "extra GB": extra_gb, "logits GB": logits_gb, "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--variant", choices=["plain", "blockwise"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.rows, args.length, args.vocab)))
        return
    results = []
    for variant in ("plain", "blockwise"):
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--rows", str(args.rows), "--length",
                              str(args.length), "--vocab", str(args.vocab)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.splitlines()[-1]))
    print(f"\nlog-probs + backward, bf16 logits {args.rows} × {args.length} × {args.vocab} "
          f"({results[0]['logits GB']:.2f} GB), {results[0]['device']}\n")
    print("| variant | seconds | peak memory beyond the logits (GB) |\n|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['seconds']:.2f} | {r['extra GB']:.2f} |")
    print(f"\nmemory ratio plain / blockwise: {results[0]['extra GB'] / results[1]['extra GB']:.1f}x, "
          f"time ratio: {results[0]['seconds'] / results[1]['seconds']:.2f}x")


if __name__ == "__main__":
    main()
