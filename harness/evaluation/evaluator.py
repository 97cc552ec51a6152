"""Score a model on a task's eval split: pass@1 (mean over n samples), unbiased pass@k, maj@n."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.core.errors import UserError
from harness.engines.base import SamplingParams
from harness.evaluation.passk import majority_correct, pass_at_k
from harness.training.policy import encode_prompt


def evaluate(engine, tokenizer, task, *, n: int, ks: list[int], limit: int | None, temperature: float,
             max_new_tokens: int, seed: int, split: str = "eval") -> tuple[list[dict], dict]:
    """Per-sample records and a summary row for `task`'s eval (or validation) problems."""
    problems = task.eval_problems(limit) if split == "eval" else task.validation_problems(limit)
    prompts = [encode_prompt(tokenizer, p.prompt, p.chat) for p in problems]
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
    groups = engine.generate(prompts, n, params, seed)
    texts = [[tokenizer.decode(g.response_ids, skip_special_tokens=True) for g in gens] for gens in groups]
    flat = task.score_many([p for p in problems for _ in range(n)], [t for row in texts for t in row])
    first_wrong_step = getattr(task, "first_wrong_step", None)  # tasks that know their intermediate values
    records, per_problem = [], []
    for i, (problem, gens) in enumerate(zip(problems, groups)):
        scores = flat[i * n : (i + 1) * n]
        for j, (g, text, s) in enumerate(zip(gens, texts[i], scores)):
            records.append({"task": task.name, "problem_id": problem.id, "sample": j, "completion": text,
                            "answer": s.answer, "gold": problem.answer, "correct": s.correct, "reward": s.reward,
                            "length": len(g.response_ids), "finished": g.finished})
            if first_wrong_step is not None:
                records[-1]["first_wrong_step"] = first_wrong_step(problem, text)
        per_problem.append(scores)
    correct = [sum(s.correct for s in scores) for scores in per_problem]
    summary = {"task": task.name, "task_version": task.version, "scorer_version": getattr(task, "scorer", ""),
               "problems": len(problems), "n": n,
               "pass@1": float(np.mean([c / n for c in correct]))}
    for k in ks:
        summary[f"pass@{k}"] = float(np.mean([pass_at_k(n, c, k) for c in correct]))
    same = getattr(task, "same_answers", None)
    summary[f"maj@{n}"] = float(np.mean([majority_correct([s.answer for s in sc], [s.correct for s in sc], same)
                                         for sc in per_problem]))
    summary["mean_length"] = float(np.mean([r["length"] for r in records]))
    return records, summary


def score_checkpoint(model_path: str, task_name: str, options: dict, out_dir: Path, *, n: int, ks: list[int],
                     limit: int | None, temperature: float, max_new_tokens: int, seed: int, engine: str = "hf",
                     backend: str = "grainbench"):
    """`grainbench eval`: evaluate one checkpoint on one task; writes samples.jsonl and summary.csv/json.

    backend `grainbench` samples through a registered engine; `lm-eval` through lm_eval.simple_evaluate
    with the task files in harness/evaluation/lm_eval_tasks (same problems, prompts and scorer, same output schema).
    """
    import pandas as pd

    from harness.core import atomic
    from harness.spec.plugins import ENGINES, make_task

    task = make_task(task_name, options)
    atomic.prepare_out_dir(out_dir)
    started = time.perf_counter()
    if backend == "lm-eval":
        from harness.evaluation.lm_eval_backend import evaluate_with_lm_eval

        records, summary = evaluate_with_lm_eval(model_path, task, n=n, ks=ks, limit=limit, temperature=temperature,
                                                 max_new_tokens=max_new_tokens, seed=seed)
    elif backend == "grainbench":
        import torch

        from harness.training.embedded import load_checkpoint

        engine_cls = ENGINES.get(engine)
        tokenizer, model = load_checkpoint(model_path)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        records, summary = evaluate(engine_cls(model, tokenizer), tokenizer, task, n=n, ks=ks, limit=limit,
                                    temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    else:
        raise UserError(f"--backend {backend!r}: choose grainbench or lm-eval")
    row = {"model": str(model_path), **summary, "temperature": temperature, "max_new_tokens": max_new_tokens,
           "seed": seed, "engine": engine if backend == "grainbench" else "hf", "backend": backend,
           "seconds": time.perf_counter() - started}
    atomic.write_jsonl(out_dir / "samples.jsonl", records)
    atomic.write_json(out_dir / "summary.json", row)
    table = pd.DataFrame([row])
    atomic.write_text(out_dir / "summary.csv", table.to_csv(index=False))
    return table
