"""`grainbench eval --backend lm-eval`: score a checkpoint through `lm_eval.simple_evaluate`.

The task definitions are the YAML files in `harness/evaluation/lm_eval_tasks/` (one per supported task). For
each call the task's eval split is loaded as grainbench loads it and written to a JSONL file with
grainbench's own prompt, so lm-eval generates for exactly the problems and prompts that
`grainbench eval` uses; completions are scored by the same `tasks.math.answer` checker, and the
results come back as grainbench's per-sample records and summary row.
"""

from __future__ import annotations

import json
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import yaml
from transformers import AutoTokenizer

from harness.core.errors import UserError
from harness.evaluation.passk import majority_correct, pass_at_k

TASK_DIR = Path(__file__).parent / "lm_eval_tasks"
STOP = "\nQuestion:"  # the YAML's stop sequence: a base model starts inventing the next question there


def supported() -> list[str]:
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


def task_config(task, problems, data_file: Path, *, n: int, temperature: float, max_new_tokens: int) -> dict:
    """The shipped YAML, pointed at `data_file` and set up for n samples scored by `task`."""
    config = yaml.safe_load((TASK_DIR / f"{task.name}.yaml").read_text())
    data_file.write_text("".join(json.dumps({"id": p.id, "prompt": p.prompt, "answer": p.answer}) + "\n" for p in problems))
    config["dataset_kwargs"] = {"data_files": {"test": str(data_file)}}
    config["repeats"] = n
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    config["generation_kwargs"] = {**config["generation_kwargs"], **sampling, "max_gen_toks": max_new_tokens}
    config["filter_list"] = [{"name": "all", "filter": [{"function": "take_first_k", "k": n}]}]
    names = [f"pass@{k}" for k in range(1, n + 1)] + [f"maj@{n}"]
    config["metric_list"] = [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in names]
    problem_of = {p.id: p for p in problems}

    def process_results(doc: dict, results: list) -> dict:
        completions = results[0]
        scores = [task.score(problem_of[doc["id"]], c) for c in completions]
        correct = sum(s.correct for s in scores)
        out = {f"pass@{k}": pass_at_k(n, correct, k) for k in range(1, n + 1)}
        out[f"maj@{n}"] = majority_correct([s.answer for s in scores], [s.correct for s in scores],
                                           getattr(task, "same_answers", None))
        return out

    config["process_results"] = process_results
    return config


def evaluate_with_lm_eval(model_path: str, task, *, n: int, ks: list[int], limit: int | None, temperature: float,
                          max_new_tokens: int, seed: int, batch_size: int = 32) -> tuple[list[dict], dict]:
    """Per-sample records and a summary row in the schema of `harness.evaluation.evaluator.evaluate`."""
    try:
        import lm_eval
    except ImportError:
        raise UserError("--backend lm-eval needs lm-eval; install it with pip install -e '.[lm-eval]'") from None
    if task.name not in supported():
        raise UserError(f"--backend lm-eval has task files for {', '.join(supported())}, not {task.name!r}")
    problems = task.eval_problems(limit)
    with tempfile.TemporaryDirectory(prefix="grainbench-lm-eval-") as tmp:
        config = task_config(task, problems, Path(tmp) / "test.jsonl", n=n, temperature=temperature,
                             max_new_tokens=max_new_tokens)
        out = lm_eval.simple_evaluate(
            model="hf", model_args={"pretrained": str(model_path), "dtype": "float32"}, tasks=[config],
            device="cuda" if torch.cuda.is_available() else "cpu", batch_size=batch_size, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, log_samples=True,
        )
    name = config["task"]
    by_id = {s["doc"]["id"]: s for s in out["samples"][name]}
    records, per_problem = [], []
    for problem in problems:
        completions = by_id[problem.id]["filtered_resps"][0]
        scores = [task.score(problem, c) for c in completions]
        per_problem.append(scores)
        records += [{"task": task.name, "problem_id": problem.id, "sample": j, "completion": c, "answer": s.answer,
                     "gold": problem.answer, "correct": s.correct, "reward": s.reward, "backend": "lm-eval"}
                    for j, (c, s) in enumerate(zip(completions, scores))]
    reported = out["results"][name]
    summary = {"task": task.name, "task_version": task.version, "scorer_version": task.scorer, "problems": len(problems),
               "n": n, "pass@1": reported["pass@1,all"]}
    summary.update({f"pass@{k}": reported[f"pass@{k},all"] for k in ks})
    summary[f"maj@{n}"] = reported[f"maj@{n},all"]
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    for r in records:  # lm-eval returns text: count tokens as the grainbench evaluator does
        r["length"] = len(tokenizer(r["completion"], add_special_tokens=False)["input_ids"])
    summary["mean_length"] = float(np.mean([r["length"] for r in records]))
    summary["lm_eval_version"] = metadata.version("lm_eval")
    return records, summary
