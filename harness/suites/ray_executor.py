"""The `ray` executor: each run is one Ray task that asks for the CPUs and GPUs it needs.

Without `executor.address` a local Ray instance is started (and stopped at the end); with
`address: auto` (or `ray://host:10001`) the suite joins a running cluster. Runs write their own
files, so the results directory and the model cache must sit on storage every node mounts; the
driver waits, collects outcomes and builds the leaderboard from those files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from harness.core.errors import UserError
from harness.spec.config import Executor, RunSpec
from harness.suites.progress import SuiteProgress

log = logging.getLogger(__name__)


def _run_remotely(run: RunSpec, out_dir: str, base_dir: str, threads: int | None, cwd: str) -> str:
    """Body of one Ray task: the driver's working directory (relative data paths), then the run."""
    from harness.core.logs import quiet_libraries
    from harness.suites.run import execute_run

    os.chdir(cwd)
    quiet_libraries()
    execute_run(run, Path(out_dir), Path(base_dir), threads=threads)
    return run.run_id


def run_all(runs: list[RunSpec], out_dir: Path, base_dir: Path, executor: Executor,
            bars: SuiteProgress) -> tuple[list[str], dict[str, str]]:
    try:
        import ray
    except ImportError:
        raise UserError("executor: ray needs Ray; install it with pip install -e '.[ray]'") from None
    from harness.training.trainer import TrainingDiverged

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=executor.address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=False, runtime_env={"env_vars": _passed_env()})
    try:
        task = ray.remote(num_cpus=executor.threads, num_gpus=executor.gpus_per_run)(_run_remotely)
        pending = {task.remote(run, str(out_dir), str(base_dir), executor.threads, os.getcwd()): run for run in runs}
        log.info("submitted %d runs to Ray (%s CPUs, %s GPUs each)", len(runs), executor.threads, executor.gpus_per_run)
        finished, failed = [], {}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ref)
            try:
                finished.append(ray.get(ref))
                log.info("finished %s", run.run_id)
            except ray.exceptions.RayTaskError as e:
                if not isinstance(e.cause, TrainingDiverged):
                    raise e.cause from None
                log.error("run %s diverged: %s", run.run_id, e.cause)
                failed[run.run_id] = str(e.cause)
            bars.run_ended()
        return finished, failed
    finally:
        if started_here:
            ray.shutdown()


def _passed_env() -> dict[str, str]:
    """The harness's own settings travel to the workers (a cluster's nodes do not share our shell)."""
    return {k: v for k, v in os.environ.items() if k.startswith(("GRAINBENCH_", "HF_"))}
