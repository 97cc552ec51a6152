"""One run of a suite — an (algorithm setting × train task × seed) — into out_dir/runs/<run_id>.

The run is evaluated at its base, at each of `eval.every`'s budget points and at the end (the
learning curve); each intermediate evaluation also saves what resuming from it needs
(`resume.pt`, atomically). `DONE` is written last: an unfinished run continues from its last
evaluation point, else starts over, and nothing half-written is ever trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
import yaml

from harness.core import atomic, distributed, environment
from harness.core.errors import UserError
from harness.core.logs import STEPS
from harness.evaluation.evaluator import evaluate
from harness.results.tracking import Trackers
from harness.spec.config import RunSpec
from harness.spec.plugins import algorithm_of, make_engine, task_of
from harness.training.budget import Budget
from harness.training.embedded import load_checkpoint, save_checkpoint
from harness.training.trainer import Trainer

log = logging.getLogger(__name__)
step_log = logging.getLogger(STEPS)

RESUME = "resume.pt"


def execute_run(run: RunSpec, out_dir: Path, base_dir: Path, threads: int | None = None,
                on_step: Callable[[dict], None] | None = None) -> dict:
    """Train and evaluate one run; under torchrun every process calls this and the main one writes.
    Everything it logs also goes to the run's own run.log."""
    run_dir = out_dir / "runs" / run.run_id
    state = open_run_dir(run, run_dir)
    if not distributed.is_main():  # the main process writes the run's files
        return _execute(run, out_dir, base_dir, run_dir, state, threads, on_step)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    ours, level = logging.getLogger("harness"), logging.getLogger("harness").level
    ours.setLevel(logging.INFO)  # the run's log is complete whatever the terminal shows
    logging.getLogger().addHandler(handler)
    try:
        return _execute(run, out_dir, base_dir, run_dir, state, threads, on_step)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        ours.setLevel(level)


def _execute(run: RunSpec, out_dir: Path, base_dir: Path, run_dir: Path, state: dict | None, threads: int | None,
             on_step: Callable[[dict], None] | None) -> dict:
    if threads:
        torch.set_num_threads(threads)  # CPU results depend on the thread count: make it a setting
    started = time.perf_counter() - (state["wall_seconds"] if state else 0.0)
    torch.manual_seed(run.seed)
    tokenizer, model = load_checkpoint(base_dir, run.model.dtype)
    model.to(distributed.device())
    engine = make_engine(run.engine, model, tokenizer)
    algorithm = algorithm_of(run)
    budget = Budget(run.budget.unit, run.budget.limit, sum(p.numel() for p in model.parameters()))

    trackers = Trackers.for_run(run.report_to, run, out_dir, run_dir) if run.report_to and distributed.is_main() else None

    def report(row: dict) -> None:
        if trackers:
            trackers.step(row)
        step_log.info("  step %d reward %.3f budget %.0f%%", row["step"], row["reward"], 100 * row["budget_fraction"])
        if on_step:
            on_step(row)

    trainer = Trainer(model=model, tokenizer=tokenizer, engine=engine, task=task_of(run.task, run.tasks),
                      algorithm=algorithm, rollout_cfg=run.rollout, train_cfg=run.train, budget=budget, seed=run.seed,
                      on_step=report)
    curve = Curve(run, run_dir, trainer, started, trackers)
    if state is None:
        curve.evaluate_base(base_dir, out_dir / "base_eval")
    else:
        if not trainer.resumable:
            raise UserError(f"{run_dir / RESUME} holds a whole optimizer state, which an FSDP run cannot continue "
                            "from: delete it to restart the run, or resume with train.parallel: ddp")
        model.load_state_dict(state["model"])
        engine.sync_weights(model)  # an engine with its own copy (vLLM) must sample from the resumed weights
        trainer.load_state_dict(state["trainer"])
        curve.points = state["curve"]
    with stop_on_signals(trainer):
        metrics = trainer.train(run_dir / "metrics.jsonl" if distributed.is_main() else None, run.eval.points, curve.point,
                                curve.save)
    if not distributed.is_main():
        distributed.barrier()  # the main process evaluates, saves and writes DONE
        return {}
    train_seconds = budget.seconds
    if curve.points[-1]["step"] != len(metrics):
        curve.evaluate(len(metrics))
    save_checkpoint(model, tokenizer, run_dir / "checkpoints" / f"step_{len(metrics):06d}")
    wall = curve.wall_seconds()
    params = algorithm.params()
    summary = {
        "run_id": run.run_id, "label": run.label, "algorithm_name": run.algorithm, "algorithm_version": type(algorithm).version,
        "params": params, "trust_region": params.get("trust_region", ""), "kl_coef": params.get("kl_coef", 0.0),
        "train_task": run.task, "split": run.split, "tuned": run.tuned, "seed": run.seed, "config_hash": run.config_hash(),
        "updates_per_batch": 1 if algorithm.on_policy_only else run.train.updates_per_batch, "engine": run.engine.name,
        "steps": len(metrics), **training_means(metrics), "n_params": budget.n_params, **budget.snapshot(), "wall_seconds": wall,
        "train_seconds": train_seconds, "gpu_seconds": wall * gpus_used(model) * distributed.world(),
        "data_parallel": distributed.world(), "git_commit": environment.git_commit(), "host": platform.node(),
        "base_eval": curve.points[0]["eval"], "eval": curve.points[-1]["eval"], "curve": curve.points,
    }
    atomic.write_json(run_dir / "summary.json", summary)
    if trackers:
        trackers.close()
    atomic.write_text(run_dir / "DONE", "")
    (run_dir / RESUME).unlink(missing_ok=True)  # the final checkpoint replaces it (and it holds optimizer state too)
    distributed.barrier()
    return summary


@contextmanager
def stop_on_signals(trainer: Trainer) -> Iterator[None]:
    """SIGINT/SIGTERM ask the trainer to finish its step, write a resume point and stop. (Only in a
    single process's main thread: data-parallel processes must stop at the same step.)"""
    if threading.current_thread() is not threading.main_thread() or distributed.world() > 1:
        yield
        return

    def ask_to_stop(signum, frame):
        trainer.stop_requested = True

    previous = {s: signal.signal(s, ask_to_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def open_run_dir(run: RunSpec, run_dir: Path) -> dict | None:
    """The saved state of an unfinished run; else a fresh run directory (and None)."""
    resume_file = run_dir / RESUME
    state = torch.load(resume_file, weights_only=False) if resume_file.is_file() else None
    distributed.barrier()  # every process has read the resume state before the main one clears a run
    if state is not None:
        log.info("resuming %s from step %d", run.run_id, len(state["trainer"]["metrics"]))
        if distributed.is_main():
            atomic.remove_leftovers(run_dir)  # of writes a killed run left unfinished
    elif distributed.is_main():
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(run.model_dump(mode="json"), sort_keys=False))
    return state


class Curve:
    """A run's evaluations along the budget axis, written to eval/step_*; the main process evaluates."""

    def __init__(self, run: RunSpec, run_dir: Path, trainer: Trainer, started: float, trackers: Trackers | None = None):
        self.run, self.run_dir, self.trainer, self.started, self.trackers = run, run_dir, trainer, started, trackers
        self.engine, self.tokenizer = trainer.engine, trainer.tokenizer  # what the trainer samples with
        self.tasks = {name: task_of(name, run.tasks) for name in run.tasks.eval}
        self.points: list[dict] = []

    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    def evaluate_base(self, base_dir: Path, cache: Path) -> None:
        if distributed.is_main():
            scores = {name: evaluate_cached(self.engine, self.tokenizer, task, self.run, base_dir, cache, self.run_dir)
                      for name, task in self.tasks.items()}
            self.points = [{"step": 0, "budget_spent": 0.0, "budget_fraction": 0.0, "eval": scores}]
            if self.trackers:
                self.trackers.evaluation(self.points[0])

    def point(self, step: int) -> None:
        """An intermediate evaluation, saved with the state to resume from it (every process calls this)."""
        self.save(step, evaluate=True)

    def save(self, step: int, evaluate: bool = False) -> None:
        """A resume point (after an evaluation when `evaluate`); with `train.keep_checkpoints`, the
        model also as checkpoints/step_*, the oldest beyond that many removed."""
        trainer_state = self.trainer.state_dict() if self.trainer.resumable else None  # each process's part
        if distributed.is_main():
            if evaluate:
                self.evaluate(step)
            if trainer_state is not None:
                with atomic.file(self.run_dir / RESUME) as tmp:
                    torch.save({"model": self.trainer.model.state_dict(), "trainer": trainer_state, "curve": self.points,
                                "wall_seconds": self.wall_seconds()}, tmp)
            keep = self.run.train.keep_checkpoints
            if keep:
                save_checkpoint(self.trainer.model, self.tokenizer, self.run_dir / "checkpoints" / f"step_{step:06d}")
                for old in sorted((self.run_dir / "checkpoints").glob("step_*"))[:-keep]:
                    shutil.rmtree(old)
        distributed.barrier()

    def evaluate(self, step: int) -> None:
        self.engine.sync_weights(self.trainer.model)
        scores = {}
        for name, task in self.tasks.items():
            records, scores[name] = run_eval(self.engine, self.tokenizer, task, self.run)
            atomic.write_jsonl(self.run_dir / "eval" / f"step_{step:06d}-{name}.jsonl", records)
        budget = self.trainer.budget
        self.points.append({"step": step, "budget_spent": budget.spent, "budget_fraction": budget.fraction, "eval": scores})
        if self.trackers:
            self.trackers.evaluation(self.points[-1])


def training_means(metrics: list[dict]) -> dict:
    """What a leaderboard row shows of how a run trained: updates made, and the mean clip fraction and
    KL to the sampler (and to the reference) over its updates — a row differing here is a different regime."""
    out = {"updates": int(sum(row["updates"] for row in metrics))}
    for key in ("clip_frac", "kl_old", "kl_ref"):
        values = [row[key] for row in metrics if key in row]
        out[key] = float(sum(values) / len(values)) if values else float("nan")
    return out


def gpus_used(model) -> int:
    return 1 if next(model.parameters()).is_cuda else 0


def run_eval(engine, tokenizer, task, run: RunSpec) -> tuple[list[dict], dict]:
    cfg = run.eval
    return evaluate(engine, tokenizer, task, n=cfg.n, ks=cfg.k, limit=cfg.limit, temperature=cfg.temperature,
                    max_new_tokens=cfg.max_new_tokens or run.rollout.max_new_tokens, seed=run.seed, split=run.split)


def evaluate_cached(engine, tokenizer, task, run: RunSpec, base_dir: Path, cache: Path, run_dir: Path) -> dict:
    """The base model's score, computed once per (base, task and scorer, split, eval settings, engine, seed)
    and shared by runs."""
    key = hashlib.sha256(json.dumps([str(base_dir), task.name, task.version, getattr(task, "scorer", ""), repr(task),
                                     run.split, run.eval.model_dump(), run.rollout.max_new_tokens,
                                     run.engine.model_dump(mode="json"), run.seed]).encode()).hexdigest()[:12]
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
