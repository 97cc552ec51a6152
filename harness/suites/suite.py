"""Run a suite: validate every name first, build the shared base once, hand each (algorithm × task × seed)
that is not finished to the executor, then aggregate the leaderboard.

A run directory counts only once `DONE` exists (see harness/suites/run.py), so a crash never leaves a half
result that a later aggregation could trust.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from pathlib import Path

import yaml

from harness.core import atomic, distributed
from harness.core.errors import Interrupted, UserError
from harness.results import comparison, leaderboard, tracking
from harness.spec.config import (
    EmbeddedModel,
    Executor,
    RunSpec,
    Suite,
    runs_of,
    tuning_runs,
)
from harness.spec.plugins import algorithm_of, check_task_fields, engine_class, task_of
from harness.suites import tuning
from harness.suites.progress import SuiteProgress
from harness.suites.run import execute_run
from harness.training.embedded import base_checkpoint
from harness.training.trainer import TrainingDiverged

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


def check_names(suite: Suite, load_data: bool = True) -> list[RunSpec]:
    """Fail before any work when a name or parameter is wrong (and, with `load_data`, when a task's
    data cannot be loaded)."""
    for name in [suite.tasks.train, *suite.tasks.eval]:
        if load_data:
            task_of(name, suite.tasks)
        else:
            check_task_fields(name, suite.tasks)
    engine_class(suite.engine)
    runs = runs_of(suite)
    algorithms = {run.label: algorithm_of(run) for run in runs}
    if suite.tune is not None:
        tuning.check_grid(suite, algorithms)
        for _, trial in tuning_runs(suite):
            algorithm_of(trial)  # every grid value is a valid parameter
        try:
            if load_data:
                task_of(suite.tasks.train, suite.tasks).validation_problems(1)
        except ValueError as e:
            raise UserError(f"tune: the train task {suite.tasks.train!r} has no validation split to tune on ({e})") from None
    return runs


def run_suite(suite: Suite, out_dir: Path, cache_dir: Path, progress: bool | None = None) -> SuiteResult:
    runs = check_names(suite)
    main = distributed.is_main()  # under torchrun every process trains each run; the main one writes
    if distributed.world() > 1 and (suite.executor.kind != "local" or suite.executor.workers > 1):
        raise UserError("under torchrun the processes share each run (data parallel); use executor: local, workers: 1")
    if main:
        atomic.prepare_out_dir(out_dir)
        atomic.remove_leftovers(out_dir, recursive=False)  # a killed suite's unfinished leaderboard, say
        atomic.write_text(out_dir / "suite.yaml", yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False))
        base_dir, reused = resolve_base(suite, cache_dir)
    distributed.barrier()
    if not main:
        base_dir, reused = resolve_base(suite, cache_dir)  # cached by the main process
    trials = [trial for _, trial in tuning_runs(suite)]
    with SuiteProgress(len(trials) + len(runs), enabled=progress) as bars:
        finished, skipped, failed = [], [], {}
        if trials:  # equal tuning effort first: the chosen values define the final runs
            log.info("tuning: %d trials on the validation split of %s", len(trials), suite.tasks.train)
            execute(suite, trials, out_dir / tuning.TUNE_DIR, base_dir, bars, finished, skipped, failed)
            chosen, table = tuning.choose(suite, tuning_runs(suite), out_dir / tuning.TUNE_DIR)
            if main:
                atomic.write_text(out_dir / "tuning.csv", table.to_csv(index=False, float_format="%.6g"))
            runs = [run for run in runs_of(suite, chosen) if run.label in chosen]
        ids = [run.run_id for run in runs]
        if main:
            atomic.write_json(out_dir / leaderboard.SUITE_RUNS, {"suite": suite.name, "runs": ids})
            others = leaderboard.others_in_folder(out_dir, ids)
            if others:
                log.warning("%s also holds %d finished runs not part of this suite (kept, never mixed in): %s",
                            out_dir, len(others), ", ".join(others[:4]) + (" …" if len(others) > 4 else ""))
        execute(suite, runs, out_dir, base_dir, bars, finished, skipped, failed)
    table = leaderboard.write(out_dir, ids) if main else leaderboard.build(out_dir, ids)
    if main and suite.baseline is not None and not table.empty:
        comparison.write(out_dir, suite.baseline, ids)
    if main:
        tracking.report_leaderboard(suite.report_to, suite.name, out_dir, table)
    return SuiteResult(out_dir, base_dir, reused, finished, skipped, failed, table)


def execute(suite: Suite, runs: list[RunSpec], out_dir: Path, base_dir: Path, bars: SuiteProgress,
            finished: list[str], skipped: list[str], failed: dict[str, str]) -> None:
    """Hand the unfinished `runs` to the suite's executor; finished ones are skipped."""
    done = [run.run_id for run in runs if (out_dir / "runs" / run.run_id / "DONE").exists()]
    for run_id in done:
        log.info("%s finished earlier, skipping", run_id)
        bars.run_ended()
    ran, broke = EXECUTORS[suite.executor.kind]([r for r in runs if r.run_id not in done], out_dir, base_dir,
                                                suite.executor, bars)
    finished += ran
    skipped += done
    failed.update(broke)


def run_locally(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
                bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    """The default executor: one run after another in this process, or `workers` at once in processes
    of their own (each with `cpus_per_run` threads: the same results as running alone with as many)."""
    if executor.workers > 1 and len(runs) > 1:
        return run_in_workers(runs, out_dir, base_dir, executor, bars)
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


def _ignore_signals() -> None:
    """A worker stops when its parent says so (SIGTERM, handled while a run is going), not on the
    terminal's Ctrl-C, which would kill it between runs and break the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


INTERRUPTED = "interrupted"  # what a worker returns when a signal stopped its run at a resume point


def _run_in_worker(run: RunSpec, out_dir: Path, base_dir: Path, threads: int | None) -> str | None:
    """Body of a local worker process: the run's id, or None when it diverged (logged there)."""
    from harness.core.logs import quiet_libraries

    quiet_libraries()
    try:
        execute_run(run, out_dir, base_dir, threads=threads)
        return run.run_id
    except TrainingDiverged as e:
        log.error("run %s diverged: %s", run.run_id, e)
        return None
    except Interrupted:
        return INTERRUPTED


def run_in_workers(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
                   bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    finished, failed = [], {}
    interrupted = []
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch thread pools
    with ProcessPoolExecutor(executor.workers, mp_context=context, initializer=_ignore_signals) as pool:

        def stop(signum, frame):  # the workers finish their step and save; runs not started stay so
            interrupted.append(signum)
            for future in pending:
                future.cancel()
            for process in list(pool._processes.values()):
                if process.is_alive():
                    os.kill(process.pid, signal.SIGTERM)

        pending = {pool.submit(_run_in_worker, run, out_dir, base_dir, executor.threads): run for run in runs}
        in_main_thread = threading.current_thread() is threading.main_thread()  # only there may signals be handled
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}
        log.info("running %d runs in %d worker processes (%s threads each)", len(runs), executor.workers, executor.threads)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    run = pending.pop(future)
                    result = None if future.cancelled() else future.result()
                    if result == INTERRUPTED or future.cancelled():
                        interrupted.append(run.run_id)
                    elif result is None:
                        failed[run.run_id] = "diverged (see the log)"
                    else:
                        finished.append(run.run_id)
                        log.info("finished %s", run.run_id)
                    bars.run_ended()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if interrupted:
        raise Interrupted(f"{len(finished)} runs finished, the others stopped at a resume point")
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


def run_on_ray(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
               bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    """One Ray task per run, reserving the run's CPUs and GPUs. Each run writes its own files (out_dir
    must be on storage every node sees); the driver only waits and collects."""
    from harness.suites import ray_executor

    return ray_executor.run_all(runs, out_dir, base_dir, executor, bars)

EXECUTORS = {"local": run_locally, "ray": run_on_ray}
