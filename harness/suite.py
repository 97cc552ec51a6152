"""Run a suite: validate every name first, build the shared base once, hand each (algorithm × task × seed)
that is not finished to the executor, then aggregate the leaderboard.

A run directory counts only once `DONE` exists; an unfinished one continues from the state saved
atomically at its last evaluation point, or is wiped and redone, so a crash never leaves a half
result that a later aggregation could trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import shutil
import time
from pathlib import Path
from typing import Callable

import torch
import yaml

from harness import atomic, distributed, environment, leaderboard
from harness.budget import Budget
from harness.config import EmbeddedModel, Executor, RunSpec, Suite, runs_of
from harness.embedded import base_checkpoint, load_checkpoint, save_checkpoint
from harness.errors import UserError
from harness.evaluator import evaluate
from harness.plugins import engine_class, make_algorithm, make_engine, task_of
from harness.progress import SuiteProgress
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
        task_of(name, suite.tasks)
    engine_class(suite.engine)
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


def run_suite(suite: Suite, out_dir: Path, cache_dir: Path, progress: bool | None = None) -> SuiteResult:
    runs = check_names(suite)
    main = distributed.is_main()  # under torchrun every process trains each run; the main one writes
    if distributed.world() > 1 and suite.executor.kind != "local":
        raise UserError("under torchrun the processes share each run (data parallel); use executor: local")
    if main:
        prepare_out_dir(out_dir)
        atomic.write_text(out_dir / "suite.yaml", yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False))
        base_dir, reused = resolve_base(suite, cache_dir)
    distributed.barrier()
    if not main:
        base_dir, reused = resolve_base(suite, cache_dir)  # cached by the main process
    skipped = [run.run_id for run in runs if (out_dir / "runs" / run.run_id / "DONE").exists()]
    for run_id in skipped:
        log.info("%s finished earlier, skipping", run_id)
    pending = [run for run in runs if run.run_id not in skipped]
    with SuiteProgress(len(runs), done=len(skipped), enabled=progress) as bars:
        finished, failed = EXECUTORS[suite.executor.kind](pending, out_dir, base_dir, suite.executor, bars)
    table = leaderboard.write(out_dir) if main else leaderboard.build(out_dir)
    return SuiteResult(out_dir, base_dir, reused, finished, skipped, failed, table)


def run_locally(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
                bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    """The default executor: one run after another in this process."""
    finished, failed = [], {}
    for i, run in enumerate(runs, 1):
        log.info("[%d/%d] %s", i, len(runs), run.run_id)
        bars.start_run(run.run_id)
        try:
            execute_run(run, out_dir, base_dir, threads=executor.threads, on_step=bars.step)
            finished.append(run.run_id)
        except TrainingDiverged as e:
            log.error("run %s diverged: %s", run.run_id, e)
            failed[run.run_id] = str(e)
        bars.run_ended()
    return finished, failed


def resolve_base(suite: Suite, cache_dir: Path) -> tuple[Path, bool]:
    if not suite.model.is_embedded:
        return Path(suite.model.path) if Path(suite.model.path).exists() else suite.model.path, True
    # the embedded base learns the format of every task the suite trains or evaluates on (their train
    # splits' demonstrations), so an eval-only task such as synth_code measures something
    names = list(dict.fromkeys([suite.tasks.train, *suite.tasks.eval]))
    teachers = [task_of(name, suite.tasks) for name in names]
    spec = suite.model.embedded or EmbeddedModel()
    try:
        return base_checkpoint(spec, suite.model.warm_start, teachers, cache_dir)
    except ValueError as e:
        raise UserError(str(e)) from None


def execute_run(run: RunSpec, out_dir: Path, base_dir: Path, threads: int | None = None,
                on_step: Callable[[dict], None] | None = None) -> dict:
    """Train and evaluate one run into out_dir/runs/<run_id>; `DONE` is written last.

    An unfinished run continues from its last evaluation point (`resume.pt`, written atomically with
    the weights, optimizer, RNG and budget state), else starts over: nothing half-written is trusted.
    """
    run_dir = out_dir / "runs" / run.run_id
    resume_file = run_dir / RESUME
    state = torch.load(resume_file, weights_only=False) if resume_file.is_file() else None
    main = distributed.is_main()
    distributed.barrier()  # every process has read the resume state before the main one clears a run
    if state is None and main:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(run.model_dump(mode="json"), sort_keys=False))
    elif state is not None:
        log.info("resuming %s from step %d", run.run_id, len(state["trainer"]["metrics"]))
    if threads:
        torch.set_num_threads(threads)  # CPU results depend on the thread count: make it a setting
    started = time.perf_counter()
    torch.manual_seed(run.seed)
    tokenizer, model = load_checkpoint(base_dir)
    model.to(distributed.device())
    engine = make_engine(run.engine, model, tokenizer)
    eval_tasks = {name: task_of(name, run.tasks) for name in run.tasks.eval}
    if not main:
        curve = []
    elif state is None:
        base_eval = {name: evaluate_cached(engine, tokenizer, task, run, base_dir, out_dir / "base_eval", run_dir)
                     for name, task in eval_tasks.items()}
        curve = [{"step": 0, "budget_spent": 0.0, "budget_fraction": 0.0, "eval": base_eval}]
    else:
        curve = state["curve"]
        base_eval = curve[0]["eval"]

    algorithm = make_algorithm(run.algorithm, run.params)
    n_params = sum(p.numel() for p in model.parameters())
    budget = Budget(run.budget.unit, run.budget.limit, n_params)

    def evaluate_now(step: int) -> None:
        trainer_state = trainer.state_dict() if trainer.resumable else None  # every process's part
        if main:
            evaluate_and_save(step, trainer_state)
        distributed.barrier()

    def evaluate_and_save(step: int, trainer_state: dict | None) -> None:
        engine.sync_weights(model)
        scores = {}
        for name, task in eval_tasks.items():
            records, scores[name] = run_eval(engine, tokenizer, task, run)
            atomic.write_jsonl(run_dir / "eval" / f"step_{step:06d}-{name}.jsonl", records)
        curve.append({"step": step, "budget_spent": budget.spent, "budget_fraction": budget.fraction, "eval": scores})
        if trainer_state is not None:
            with atomic.file(resume_file) as tmp:
                torch.save({"model": model.state_dict(), "trainer": trainer_state, "curve": curve,
                            "wall_seconds": wall_before + time.perf_counter() - started}, tmp)

    def report(row: dict) -> None:
        log.info("  step %d reward %.3f budget %.0f%%", row["step"], row["reward"], 100 * row["budget_fraction"])
        if on_step:
            on_step(row)

    trainer = Trainer(model=model, tokenizer=tokenizer, engine=engine, task=task_of(run.task, run.tasks),
                      algorithm=algorithm, rollout_cfg=run.rollout, train_cfg=run.train, budget=budget, seed=run.seed,
                      on_step=report)
    wall_before = 0.0
    if state is not None and not trainer.resumable:
        raise UserError(f"{resume_file} holds a whole optimizer state, which an FSDP run cannot continue from: "
                        "delete it to restart the run, or resume with train.parallel: ddp")
    if state is not None:
        model.load_state_dict(state["model"])
        trainer.load_state_dict(state["trainer"])
        wall_before = state["wall_seconds"]
    metrics = trainer.train(run_dir / "metrics.jsonl" if main else None, run.eval.points, evaluate_now)
    steps = len(metrics)
    train_seconds = budget.seconds
    if not main:
        distributed.barrier()  # the main process evaluates, saves and writes DONE
        return {}
    if curve[-1]["step"] != steps:
        evaluate_and_save(steps, None)
    save_checkpoint(model, tokenizer, run_dir / "checkpoints" / f"step_{steps:06d}")
    wall = wall_before + time.perf_counter() - started
    summary = {
        "run_id": run.run_id, "label": run.label, "algorithm_name": run.algorithm, "algorithm_version": type(algorithm).version,
        "params": algorithm.params(), "train_task": run.task, "seed": run.seed, "config_hash": run.config_hash(),
        "updates_per_batch": 1 if algorithm.on_policy_only else run.train.updates_per_batch, "engine": run.engine.name,
        "steps": steps, "n_params": n_params, **budget.snapshot(), "wall_seconds": wall, "train_seconds": train_seconds,
        "gpu_seconds": wall * gpus_used(model) * distributed.world(), "data_parallel": distributed.world(),
        "git_commit": environment.git_commit(), "host": platform.node(),
        "base_eval": base_eval, "eval": curve[-1]["eval"], "curve": curve,
    }
    atomic.write_json(run_dir / "summary.json", summary)
    atomic.write_text(run_dir / "DONE", "")
    resume_file.unlink(missing_ok=True)  # the final checkpoint replaces it (and it holds optimizer state too)
    distributed.barrier()
    return summary


def gpus_used(model) -> int:
    return 1 if next(model.parameters()).is_cuda else 0


def run_eval(engine, tokenizer, task, run: RunSpec) -> tuple[list[dict], dict]:
    cfg = run.eval
    return evaluate(engine, tokenizer, task, n=cfg.n, ks=cfg.k, limit=cfg.limit, temperature=cfg.temperature,
                    max_new_tokens=cfg.max_new_tokens or run.rollout.max_new_tokens, seed=run.seed)


def evaluate_cached(engine, tokenizer, task, run: RunSpec, base_dir: Path, cache: Path, run_dir: Path) -> dict:
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


def run_on_ray(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
               bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    """One Ray task per run, reserving the run's CPUs and GPUs. Each run writes its own files (out_dir
    must be on storage every node sees); the driver only waits and collects."""
    from harness import ray_executor

    return ray_executor.run_all(runs, out_dir, base_dir, executor, bars)


RESUME = "resume.pt"
EXECUTORS = {"local": run_locally, "ray": run_on_ray}
