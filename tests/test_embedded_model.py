"""The embedded model is an ordinary Hugging Face directory: Auto* classes load it, outputs match."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.spec.config import EmbeddedModel
from harness.training.embedded import build_model, build_tokenizer, save_checkpoint


def test_save_load_round_trip(tmp_path):
    import random

    from tasks.arith import Arith

    corpus = [p + s for p, s in Arith().demonstrations(500, random.Random(0))]
    tokenizer = build_tokenizer(corpus, vocab_size=400)
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tokenizer, seed=0)
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    save_checkpoint(model, tokenizer, tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    tok2 = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    model2 = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")
    text = "Ann has 12 pens.\n12+7=19\n#### 19"
    ids = tok2(text, add_special_tokens=False)["input_ids"]
    assert len(ids) < 0.7 * len(text)  # the task's words were merged into single tokens
    assert tok2.decode(ids) == text
    for odd in ["naïve — ∑ 😀\t", "Ann has 1234567 pens"]:  # bytes: every text survives a round trip
        assert tok2.decode(tok2(odd, add_special_tokens=False)["input_ids"]) == odd
    digits = tok2("Ann has 1234567 pens", add_special_tokens=False)["input_ids"]
    assert [tok2.decode([i]) for i in digits if tok2.decode([i]).strip().isdigit()] == list("1234567")
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    x = torch.tensor([[tok2.bos_token_id] + ids])
    torch.testing.assert_close(model(x).logits, model2(x).logits)
    assert model2.config.model_type == "llama"


def test_a_model_loads_in_the_dtype_the_suite_asks_for(tmp_path):
    from harness.training.embedded import load_checkpoint

    tokenizer = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tokenizer, seed=0)
    save_checkpoint(model.float(), tokenizer, tmp_path / "ckpt")  # float32 whatever torch's default dtype is
    for dtype, expected in [("float32", torch.float32), ("bfloat16", torch.bfloat16), ("auto", torch.float32)]:
        _, loaded = load_checkpoint(tmp_path / "ckpt", dtype)
        assert {p.dtype for p in loaded.parameters()} == {expected}, dtype
