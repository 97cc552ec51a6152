"""The embedded base model: a tiny Llama with a byte-level BPE tokenizer, warm-started on demonstrations.

Everything is built locally (no hub) and saved as an ordinary Hugging Face directory, so the `hf`
engine, vLLM and lm-eval all load it like any other checkpoint. The warm start is cached under a
hash of everything that determines it, so a second run (or suite) reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from harness.core import atomic
from harness.spec.config import EmbeddedModel, WarmStart
from harness.training.policy import encode_prompt, right_pad

log = logging.getLogger(__name__)

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
TOKENIZER_VERSION = "bpe-1"
TOKENIZER_CORPUS = 2000  # demonstrations per task the merges are learned from


def build_tokenizer(corpus: Iterable[str] = (), vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE whose merges are learned from `corpus` (the tasks' demonstrations).

    Bytes keep every text in vocabulary and decoding exact; merges make the synthetic words single
    tokens, so a problem is ~2x shorter than in characters and every FLOP of the budget goes further.
    Digits stay single tokens, as in Llama's tokenizer, so numbers are spelled the same everywhere.
    """
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False)])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(list(corpus), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(spec: EmbeddedModel, tokenizer, seed: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def looks_like_a_path(value: str) -> bool:
    """A hub id is `name` or `org/name`; anything else with a slash, or whose first part is a local
    folder (`runs/step_000010` beside a `runs/`), is a path: a typo there must not become a 50 s
    attempt to download it."""
    parts = value.split("/")
    return value.startswith((".", "/", "~")) or value.endswith("/") or len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "auto": "auto"}


def load_checkpoint(path: str | Path, dtype: str = "float32"):
    """(tokenizer, model) from an HF directory or hub id, its weights in `dtype` (float32, bfloat16 or
    auto: as saved); a clear error when it is not a model."""
    from harness.core.errors import UserError

    if looks_like_a_path(str(path)) and not Path(path).expanduser().is_dir():
        raise UserError(f"model directory {path} not found; give a Hugging Face model directory or hub id")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=DTYPES[dtype])
    except (OSError, ValueError) as e:
        raise UserError(f"model {path} could not be loaded as a causal LM ({type(e).__name__}: {e}); "
                        "give a Hugging Face model directory or hub id") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def save_checkpoint(model, tokenizer, path: Path) -> None:
    with atomic.directory(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def warm_start_key(spec: EmbeddedModel, warm: WarmStart, tasks: list) -> str:
    payload = {"model": spec.model_dump(), "warm_start": warm.model_dump(), "tokenizer": TOKENIZER_VERSION,
               "tasks": [(t.name, t.version, repr(t)) for t in tasks]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def base_checkpoint(spec: EmbeddedModel, warm: WarmStart, tasks: list, cache_dir: Path) -> tuple[Path, bool]:
    """The warm-started base for these settings: (directory, reused_from_cache)."""
    target = Path(cache_dir) / "base" / warm_start_key(spec, warm, tasks)
    if (target / "config.json").is_file():
        log.info("reusing cached base model %s", target)
        return target, True
    teachers = [t for t in tasks if hasattr(t, "demonstrations") and t.demonstrations(1, random.Random(0))]
    if warm.steps and not teachers:
        names = ", ".join(t.name for t in tasks)
        raise ValueError(f"the embedded model's warm start needs a task with demonstrations; {names} have none")
    log.info("warm-starting the embedded base model (%d steps) into %s", warm.steps, target)
    corpus_rng = random.Random(f"tokenizer-{warm.seed}")
    corpus = [p + s for t in teachers for p, s in t.demonstrations(TOKENIZER_CORPUS, corpus_rng)]
    tokenizer = build_tokenizer(corpus, spec.vocab_size)
    model = build_model(spec, tokenizer, warm.seed)
    supervised_warm_start(model, tokenizer, teachers, warm)
    save_checkpoint(model, tokenizer, target)
    return target, False


def supervised_warm_start(model, tokenizer, tasks: list, warm: WarmStart) -> None:
    """Next-token loss on the solution tokens of demonstrations, cosine-decayed learning rate."""
    rng = random.Random(warm.seed)
    torch.manual_seed(warm.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=warm.lr, weight_decay=0.01)
    model.train()
    for step in range(warm.steps):
        for group in opt.param_groups:
            cosine = 0.5 * (1 + math.cos(math.pi * step / warm.steps))
            group["lr"] = warm.lr * (warm.min_lr_ratio + (1 - warm.min_lr_ratio) * cosine)
        demos = [d for i in range(warm.batch_size) for d in tasks[i % len(tasks)].demonstrations(1, rng)]
        rows, labels = [], []
        for prompt, solution in demos:
            p = encode_prompt(tokenizer, prompt)
            s = tokenizer(solution, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            rows.append(p + s)
            labels.append([-100] * len(p) + s)
        ids, mask = right_pad(rows, tokenizer.pad_token_id)
        target, _ = right_pad(labels, -100)
        loss = model(input_ids=ids, attention_mask=mask.long(), labels=target).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == warm.steps - 1:
            log.info("warm start step %d/%d loss %.4f", step + 1, warm.steps, loss.item())
    model.eval()
