"""One RL step, grainbench vs TRL's GRPOTrainer, on the same random-init model, shapes and device.

A step samples `prompts × samples` responses of `new_tokens` tokens (HF generate, no vLLM), scores
them, and makes one policy-gradient update (GRPO, beta 0). Printed side by side: seconds per step
(median after a warm-up step), generated tokens/s, trained tokens/s, the update's model FLOP/s and
its MFU when `--peak-tflops` is known (H100 SXM bf16 dense: 989).

    python benchmarks/rl_step.py                                # Qwen2.5-0.5B shape, 8 × 8 × 256, bf16 GPU
    python benchmarks/rl_step.py --shape small --new-tokens 64  # a size a CPU finishes in minutes

grainbench gets one row per `--decode` mode of its hf engine (dynamic KV cache; static; static and
compiled — CUDA graphs on a GPU); the warm-up step, not timed, pays for compilation.

TRL is optional (`pip install trl`); without it only grainbench's row is printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         intermediate_size=4864, vocab_size=151_936),
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=1024, vocab_size=32_768),
}


def make_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """One word per token id ("t0" … ), so any id the random model samples decodes and re-encodes."""
    vocab = {f"t{i}": i for i in range(vocab_size - 2)} | {"<pad>": vocab_size - 2, "<eos>": vocab_size - 1}
    core = Tokenizer(WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")


def make_model(shape: str, dtype: torch.dtype, device: str) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=4096, tie_word_embeddings=True)
    return Qwen2ForCausalLM(config).to(dtype=dtype, device=device)


def prompt_text(i: int, length: int, vocab: int) -> str:
    g = torch.Generator().manual_seed(i)
    return " ".join(f"t{t}" for t in torch.randint(0, vocab - 2, (length,), generator=g).tolist())


def reward_by_parity(completions, **kwargs) -> list[float]:
    """Any reward with spread within a group will do: timing does not depend on it."""
    return [float(len(c) % 2) for c in completions]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def grainbench_steps(args, dtype, device, decode: str) -> dict:
    from harness.engines.hf import HFEngine
    from harness.spec.config import Rollout, Train
    from harness.spec.plugins import make_algorithm
    from harness.training.budget import Budget
    from harness.training.trainer import Trainer
    from tasks.base import Problem, Score, Scoring

    class Prompts(Scoring):
        name, version = "bench", "1"

        def train_problems(self, count, rng):
            return [Problem(str(i), prompt_text(rng.randrange(10**6), args.prompt_tokens, args.vocab), "") for i in range(count)]

        def score(self, problem, completion):
            r = reward_by_parity([completion])[0]
            return Score(r, bool(r), None)

    model = make_model(args.shape, dtype, device)
    tokenizer = make_tokenizer(args.vocab)
    n_params = sum(p.numel() for p in model.parameters())
    trainer = Trainer(model=model, tokenizer=tokenizer, engine=HFEngine(model, tokenizer, decode=decode), task=Prompts(),
                      algorithm=make_algorithm("grpo", {"kl_coef": 0.0}),
                      rollout_cfg=Rollout(prompts_per_step=args.prompts, samples_per_prompt=args.samples,
                                          max_new_tokens=args.new_tokens),
                      train_cfg=Train(lr=1e-6, warmup_steps=0, updates_per_batch=1), budget=Budget("flops", 1e30, n_params),
                      seed=0)
    timings = {"generate": [], "update": []}
    for name, method in (("generate", "sample"), ("update", "update")):
        inner = getattr(trainer, method)

        def timed(*a, _inner=inner, _name=name, **kw):
            sync(device)
            start = time.perf_counter()
            out = _inner(*a, **kw)
            sync(device)
            timings[_name].append(time.perf_counter() - start)
            return out

        setattr(trainer, method, timed)
    steps, generated, trained = [], [], []
    model.train()
    for i in range(args.steps + 1):
        before_gen, before_trained = trainer.budget.generated_tokens, trainer.budget.trained_tokens
        sync(device)
        start = time.perf_counter()
        trainer.step(i + 1)
        sync(device)
        steps.append(time.perf_counter() - start)
        generated.append(trainer.budget.generated_tokens - before_gen)
        trained.append(trainer.budget.trained_tokens - before_trained)
    return summarise(f"grainbench (decode: {decode})", steps[1:], timings["generate"][1:], timings["update"][1:], generated[1:], trained[1:],
                     n_params, args)


def trl_steps(args, dtype, device) -> dict | None:
    try:
        from datasets import Dataset
        from transformers import TrainerCallback
        from transformers.trainer_callback import PrinterCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        return None
    model = make_model(args.shape, dtype, device)
    tokenizer = make_tokenizer(args.vocab)
    n_params = sum(p.numel() for p in model.parameters())
    prompts = [prompt_text(i, args.prompt_tokens, args.vocab) for i in range(args.prompts * (args.steps + 1))]
    steps, generated, trained = [], [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **kw):
            sync(device)
            self.start = time.perf_counter()

        def on_step_end(self, *a, **kw):
            sync(device)
            steps.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(output_dir=out, per_device_train_batch_size=args.prompts * args.samples,
                            num_generations=args.samples, max_completion_length=args.new_tokens, beta=0.0,
                            learning_rate=1e-6, max_steps=args.steps + 1, logging_steps=1, report_to="none",
                            save_strategy="no", use_cpu=device == "cpu", bf16=dtype == torch.bfloat16,
                            disable_tqdm=True, seed=0, temperature=1.0)
        trainer = GRPOTrainer(model=model, reward_funcs=reward_by_parity, args=config, processing_class=tokenizer,
                              train_dataset=Dataset.from_dict({"prompt": prompts}), callbacks=[Clock()])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    for row in trainer.state.log_history:
        if "completions/mean_length" in row:
            completions = row["completions/mean_length"] * args.prompts * args.samples
            generated.append(completions)
            trained.append(completions + args.prompt_tokens * args.prompts * args.samples)
    return summarise("trl GRPOTrainer", steps[1:], None, None, generated[1:], trained[1:], n_params, args)


def summarise(name, steps, gen_times, update_times, generated, trained, n_params, args) -> dict:
    row = {"trainer": name, "s/step": statistics.median(steps),
           "generated tok per step-second": statistics.median(g / s for g, s in zip(generated, steps))}
    if gen_times:  # grainbench's phases are timed apart; TRL's only as whole steps
        row["gen tok/s (sampling)"] = statistics.median(g / t for g, t in zip(generated, gen_times))
        row["train tok/s"] = statistics.median(t / u for t, u in zip(trained, update_times))
        flops = statistics.median(6 * n_params * t / u for t, u in zip(trained, update_times))
        row["update TFLOP/s"] = flops / 1e12
        if args.peak_tflops:
            row["update MFU"] = flops / 1e12 / args.peak_tflops
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-0.5b")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU (H100 bf16: 989)")
    parser.add_argument("--decode", default="dynamic,static,compiled", help="hf engine decode modes, comma-separated")
    parser.add_argument("--skip-trl", action="store_true")
    args = parser.parse_args()
    args.vocab = SHAPES[args.shape]["vocab_size"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if device == "cuda" and args.peak_tflops is None and "H100" in torch.cuda.get_device_name():
        args.peak_tflops = 989.0
    rows = [grainbench_steps(args, dtype, device, decode) for decode in args.decode.split(",")]
    trl = None if args.skip_trl else trl_steps(args, dtype, device)
    where = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n{args.shape}, {args.prompts} prompts x {args.samples} samples x {args.new_tokens} new tokens, "
          f"{args.prompt_tokens}-token prompts, {dtype}, {where}\n")
    cols = list(dict.fromkeys(k for r in rows + [trl or {}] for k in r))
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows + ([trl] if trl else []):
        print("| " + " | ".join(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols) + " |")
    if trl:
        print()
        for r in rows:
            print(f"{r['trainer']} steps/s ÷ TRL steps/s: {trl['s/step'] / r['s/step']:.2f}x")


if __name__ == "__main__":
    main()
