"""Run a suite: validate every name first, build the shared base once, run each (algorithm × task × seed)
that is not finished, then aggregate the leaderboard.

A run directory counts only once `DONE` exists; an unfinished one is wiped and redone, so a
crash never leaves a half result that a later aggregation could trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import torch
import yaml

from harness import atomic, leaderboard
from harness.budget import Budget
from harness.config import EmbeddedModel, RunSpec, Suite, runs_of
from harness.embedded import base_checkpoint, load_checkpoint, save_checkpoint
from harness.errors import UserError
from harness.evaluator import evaluate
from harness.plugins import ENGINES, make_algorithm, make_task
from harness.trainer import Trainer, TrainingDiverged

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SuiteResult:
    out_dir: Path
    base_dir: Path
    base_reused: bool
    finished: list[str]
    skipped: list[str]
    failed: dict[str, str]
    table: object


def check_names(suite: Suite) -> list[RunSpec]:
    """Fail before any work when a name or parameter is wrong."""
    for name in [suite.tasks.train, *suite.tasks.eval]:
        make_task(name, suite.tasks.options.get(name, {}))
    ENGINES.get(suite.engine)
    runs = runs_of(suite)
    for run in runs:
        make_algorithm(run.algorithm, run.params)
    return runs


def prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output path {out_dir} is a file; pass --out a directory (it is created if missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output directory {out_dir}: {e.strerror}; pass --out a writable directory") from None


def run_suite(suite: Suite, out_dir: Path, cache_dir: Path) -> SuiteResult:
    runs = check_names(suite)
    prepare_out_dir(out_dir)
    atomic.write_text(out_dir / "suite.yaml", yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False))
    base_dir, reused = resolve_base(suite, cache_dir)
    finished, skipped, failed = [], [], {}
    for i, run in enumerate(runs, 1):
        run_dir = out_dir / "runs" / run.run_id
        if (run_dir / "DONE").exists():
            log.info("[%d/%d] %s finished earlier, skipping", i, len(runs), run.run_id)
            skipped.append(run.run_id)
            continue
        log.info("[%d/%d] %s", i, len(runs), run.run_id)
        try:
            execute_run(run, run_dir, base_dir, out_dir / "base_eval")
            finished.append(run.run_id)
        except TrainingDiverged as e:
            log.error("run %s diverged: %s", run.run_id, e)
            failed[run.run_id] = str(e)
    table = leaderboard.write(out_dir)
    return SuiteResult(out_dir, base_dir, reused, finished, skipped, failed, table)


def resolve_base(suite: Suite, cache_dir: Path) -> tuple[Path, bool]:
    if not suite.model.is_embedded:
        return Path(suite.model.path) if Path(suite.model.path).exists() else suite.model.path, True
    # the embedded base learns the format of every task the suite trains or evaluates on (their train
    # splits' demonstrations), so an eval-only task such as synth_code measures something
    names = list(dict.fromkeys([suite.tasks.train, *suite.tasks.eval]))
    teachers = [make_task(name, suite.tasks.options.get(name, {})) for name in names]
    spec = suite.model.embedded or EmbeddedModel()
    try:
        return base_checkpoint(spec, suite.model.warm_start, teachers, cache_dir)
    except ValueError as e:
        raise UserError(str(e)) from None


def execute_run(run: RunSpec, run_dir: Path, base_dir: Path, base_eval_dir: Path) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)  # unfinished: never trust a half-written run
    run_dir.mkdir(parents=True)
    atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(run.model_dump(mode="json"), sort_keys=False))
    started = time.perf_counter()
    torch.manual_seed(run.seed)
    tokenizer, model = load_checkpoint(base_dir)
    engine_cls = ENGINES.get(run.engine)
    engine = engine_cls(model, tokenizer)
    eval_tasks = {name: make_task(name, run.tasks.options.get(name, {})) for name in run.tasks.eval}
    base_eval = {name: evaluate_cached(engine, tokenizer, task, run, base_dir, base_eval_dir, run_dir)
                 for name, task in eval_tasks.items()}

    algorithm = make_algorithm(run.algorithm, run.params)
    n_params = sum(p.numel() for p in model.parameters())
    budget = Budget(run.budget.unit, run.budget.limit, n_params)
    trainer = Trainer(model=model, tokenizer=tokenizer, engine=engine, task=make_task(run.task, run.tasks.options.get(run.task, {})),
                      algorithm=algorithm, rollout_cfg=run.rollout, train_cfg=run.train, budget=budget, seed=run.seed,
                      on_step=lambda row: log.info("  step %d reward %.3f budget %.0f%%", row["step"], row["reward"], 100 * row["budget_fraction"]))
    metrics = trainer.train(run_dir / "metrics.jsonl")
    steps = len(metrics)
    engine.sync_weights(model)
    save_checkpoint(model, tokenizer, run_dir / "checkpoints" / f"step_{steps:06d}")
    final_eval = {}
    for name, task in eval_tasks.items():
        records, summary = run_eval(engine, tokenizer, task, run)
        atomic.write_jsonl(run_dir / "eval" / f"step_{steps:06d}-{name}.jsonl", records)
        final_eval[name] = summary
    summary = {
        "run_id": run.run_id, "label": run.label, "algorithm_name": run.algorithm, "algorithm_version": type(algorithm).version,
        "params": algorithm.params(), "train_task": run.task, "seed": run.seed, "config_hash": run.config_hash(),
        "updates_per_batch": 1 if algorithm.on_policy_only else run.train.updates_per_batch, "engine": run.engine,
        "steps": steps, "n_params": n_params, **budget.snapshot(), "wall_seconds": time.perf_counter() - started,
        "train_seconds": budget.seconds, "base_eval": base_eval, "eval": final_eval,
    }
    atomic.write_json(run_dir / "summary.json", summary)
    atomic.write_text(run_dir / "DONE", "")
    return summary


def run_eval(engine, tokenizer, task, run: RunSpec) -> tuple[list[dict], dict]:
    cfg = run.eval
    return evaluate(engine, tokenizer, task, n=cfg.n, ks=cfg.k, limit=cfg.limit, temperature=cfg.temperature,
                    max_new_tokens=cfg.max_new_tokens or run.rollout.max_new_tokens, seed=run.seed)


def evaluate_cached(engine, tokenizer, task, run: RunSpec, base_dir, cache: Path, run_dir: Path) -> dict:
    """The base model's score, computed once per (base, task, eval settings, seed) and shared by runs."""
    key = hashlib.sha256(json.dumps([str(base_dir), task.name, task.version, repr(task), run.eval.model_dump(),
                                     run.rollout.max_new_tokens, run.seed]).encode()).hexdigest()[:12]
    summary_path, records_path = cache / f"{task.name}-{key}.json", cache / f"{task.name}-{key}.jsonl"
    if summary_path.exists() and records_path.exists():
        summary = json.loads(summary_path.read_text())
        records_text = records_path.read_text()
    else:
        records, summary = run_eval(engine, tokenizer, task, run)
        records_text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic.write_text(records_path, records_text)
        atomic.write_json(summary_path, summary)
    atomic.write_text(run_dir / "eval" / f"step_000000-{task.name}.jsonl", records_text)
    return summary
