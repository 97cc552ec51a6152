"""Score a model on a task's eval split: pass@1 (mean over n samples), unbiased pass@k, maj@n."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.engines.base import SamplingParams
from harness.passk import majority_correct, pass_at_k
from harness.policy import encode_prompt


def evaluate(engine, tokenizer, task, *, n: int, ks: list[int], limit: int | None, temperature: float,
             max_new_tokens: int, seed: int) -> tuple[list[dict], dict]:
    """Per-sample records and a summary row for `task`'s eval problems."""
    problems = task.eval_problems(limit)
    prompts = [encode_prompt(tokenizer, p.prompt, p.chat) for p in problems]
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
    groups = engine.generate(prompts, n, params, seed)
    texts = [[tokenizer.decode(g.response_ids, skip_special_tokens=True) for g in gens] for gens in groups]
    flat = task.score_many([p for p in problems for _ in range(n)], [t for row in texts for t in row])
    records, per_problem = [], []
    for i, (problem, gens) in enumerate(zip(problems, groups)):
        scores = flat[i * n : (i + 1) * n]
        for j, (g, text, s) in enumerate(zip(gens, texts[i], scores)):
            records.append({"task": task.name, "problem_id": problem.id, "sample": j, "completion": text,
                            "answer": s.answer, "gold": problem.answer, "correct": s.correct, "reward": s.reward,
                            "length": len(g.response_ids), "finished": g.finished})
        per_problem.append(scores)
    correct = [sum(s.correct for s in scores) for scores in per_problem]
    summary = {"task": task.name, "task_version": task.version, "scorer_version": getattr(task, "scorer", ""),
               "problems": len(problems), "n": n,
               "pass@1": float(np.mean([c / n for c in correct]))}
    for k in ks:
        summary[f"pass@{k}"] = float(np.mean([pass_at_k(n, c, k) for c in correct]))
    summary[f"maj@{n}"] = float(np.mean([majority_correct([s.answer for s in sc], [s.correct for s in sc])
                                         for sc in per_problem]))
    summary["mean_length"] = float(np.mean([r["length"] for r in records]))
    return records, summary


def score_checkpoint(model_path: str, task_name: str, options: dict, out_dir: Path, *, n: int, ks: list[int],
                     limit: int | None, temperature: float, max_new_tokens: int, seed: int, engine: str = "hf"):
    """`grainbench eval`: evaluate one checkpoint on one task; writes samples.jsonl and summary.csv/json."""
    import pandas as pd
    import torch

    from harness import atomic
    from harness.embedded import load_checkpoint
    from harness.plugins import ENGINES, make_task
    from harness.suite import prepare_out_dir

    task = make_task(task_name, options)
    engine_cls = ENGINES.get(engine)
    prepare_out_dir(out_dir)
    tokenizer, model = load_checkpoint(model_path)
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    started = time.perf_counter()
    records, summary = evaluate(engine_cls(model, tokenizer), tokenizer, task, n=n, ks=ks, limit=limit,
                                temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    row = {"model": str(model_path), **summary, "temperature": temperature, "max_new_tokens": max_new_tokens,
           "seed": seed, "engine": engine, "seconds": time.perf_counter() - started}
    atomic.write_jsonl(out_dir / "samples.jsonl", records)
    atomic.write_json(out_dir / "summary.json", row)
    table = pd.DataFrame([row])
    atomic.write_text(out_dir / "summary.csv", table.to_csv(index=False))
    return table
