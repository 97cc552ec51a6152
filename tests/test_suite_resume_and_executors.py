"""A suite killed with SIGKILL at a random point resumes to the same leaderboard, and the `ray`
executor gives the same leaderboard as `local`."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.results.leaderboard import TIMINGS
from tests.conftest import ROOT, cli_in_process, grainbench

pytestmark = pytest.mark.slow  # minutes of end-to-end work: started first (conftest.py)

SMOKE = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())


def suite_file(tmp_path, name, **changes):
    suite = {**SMOKE, "name": name, **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def comparable(results):
    """The leaderboard without the measured timings (which differ between any two executions)."""
    board = pd.read_csv(results / "leaderboard.csv")
    return board.drop(columns=[c for c in board.columns if c in TIMINGS])


def run_metrics(results):
    """Every run's per-step metrics without timings: equal only if every step repeated exactly."""
    out = {}
    for path in sorted(results.glob("runs/*/metrics.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out[path.parent.name] = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]
    return out


def progress(out, cache) -> int:
    """How far a suite has come, in what it has written: files of the base model and of the runs
    (checkpoints, evaluations, temporary files of a write under way) and steps logged."""
    written = steps = 0
    for root in (cache, out / "runs"):
        for folder, _, files in os.walk(root):
            written += len(files)
            if "metrics.jsonl" in files:
                try:
                    steps += (Path(folder) / "metrics.jsonl").read_bytes().count(b"\n")
                except FileNotFoundError:  # replaced while read: count it next time
                    pass
    return written + steps


# three runs, one thread each, however they are executed: the same results wherever they run
THREE_RUNS = {"algorithms": {"grpo": {}, "gspo": {}, "mpo": {"k": [2]}}, "eval": {"n": 2, "k": [1, 2], "every": 0.5}}


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The three runs one after another in this process, uninterrupted: what a killed and resumed
    suite, Ray and worker processes must each give. (results, cache)"""
    tmp = tmp_path_factory.mktemp("alone")
    suite = suite_file(tmp, "alone", executor={"kind": "local", "cpus_per_run": 1}, **THREE_RUNS)
    code, err = cli_in_process("run", str(suite), "--out", str(tmp / "alone"), "--cache", str(tmp / "cache"))
    assert code == 0, err
    return tmp / "alone", tmp / "cache"


def test_suite_killed_at_a_random_point_resumes_to_the_same_leaderboard(tmp_path, alone):
    suite = suite_file(tmp_path, "resume", executor={"kind": "local", "cpus_per_run": 1}, **THREE_RUNS)
    whole = alone[0]
    total = progress(*alone)  # base included: the killed suite starts on an empty cache, so it may die warm-starting

    # anywhere — warm start, a run, an evaluation, a write — at a point of the suite's own progress, so
    # the kill lands inside the suite however busy the machine is; then up to 0.3 s later, inside a step
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    point, after = rng.randrange(total - 1), rng.uniform(0.0, 0.3)
    out, cache = tmp_path / "killed", tmp_path / "cache_killed"
    args = [sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), "--cache", str(cache)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while proc.poll() is None and (not cache.exists() or progress(out, cache) < point):
        time.sleep(0.05)
    time.sleep(after)
    assert proc.poll() is None, f"the suite ended before the kill at {point} of {total} (seed {seed})"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "leaderboard.csv").exists()

    code, err = cli_in_process("run", str(suite), "--out", str(out), "--cache", str(cache))
    assert code == 0, err
    context = f"killed {after:.2f} s after point {point} of {total} (seed {seed})"
    pd.testing.assert_frame_equal(comparable(out), comparable(whole), obj=context)
    assert run_metrics(out) == run_metrics(whole), context
    assert not list(out.rglob("*.tmp")), "a temporary file survived the resume"


def test_ray_executor_gives_the_local_leaderboard(tmp_path, alone):
    pytest.importorskip("ray", reason="the ray executor needs Ray (pip install -e '.[ray]')")
    whole, cache = alone
    on_ray = suite_file(tmp_path, "ray", executor={"kind": "ray", "cpus_per_run": 1}, **THREE_RUNS)
    b = grainbench("run", str(on_ray), "--out", str(tmp_path / "ray"), "--cache", str(cache))
    assert b.returncode == 0, b.stderr
    assert "submitted 3 runs to Ray" in b.stderr and "(_run_remotely pid=" in b.stderr
    assert len(comparable(tmp_path / "ray")) == 3
    pd.testing.assert_frame_equal(comparable(tmp_path / "ray"), comparable(whole))
    assert run_metrics(tmp_path / "ray") == run_metrics(whole)


def test_local_workers_give_the_leaderboard_of_one_process_with_as_many_threads(tmp_path, alone):
    whole, cache = alone
    workers = suite_file(tmp_path, "workers", executor={"kind": "local", "workers": 2}, **THREE_RUNS)
    b = grainbench("run", str(workers), "--out", str(tmp_path / "workers"), "--cache", str(cache))
    assert b.returncode == 0, b.stderr
    assert "running 3 runs in 2 worker processes (1 threads each)" in b.stderr
    assert len(comparable(tmp_path / "workers")) == 3
    pd.testing.assert_frame_equal(comparable(tmp_path / "workers"), comparable(whole))
    assert run_metrics(tmp_path / "workers") == run_metrics(whole)


def test_an_interrupted_run_resumes_from_its_last_evaluation(tmp_path, monkeypatch, caplog):
    from harness.spec.config import load_suite
    from harness.suites.run import RESUME
    from harness.suites.suite import run_suite
    from harness.training.trainer import Trainer

    suite = load_suite(suite_file(tmp_path, "mid", eval={"n": 2, "k": [1, 2], "every": 0.25}))
    cache = tmp_path / "cache"
    run_suite(suite, tmp_path / "whole", cache, progress=False)

    step = Trainer.step

    def power_cut(self, i):
        row = step(self, i)
        if self.budget.fraction > 0.6:  # after the 50 % evaluation, before the 75 % one
            raise KeyboardInterrupt
        return row

    monkeypatch.setattr(Trainer, "step", power_cut)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, tmp_path / "cut", cache, progress=False)
    (run_dir,) = (tmp_path / "cut" / "runs").iterdir()
    assert (run_dir / RESUME).is_file() and not (run_dir / "DONE").exists()
    # what a SIGKILL mid-write would also have left: atomic writes' temporary files and folders
    leftovers = [tmp_path / "cut" / ".leaderboard.csv.k1ll.tmp", run_dir / ".metrics.jsonl.k1ll.tmp",
                 run_dir / "eval" / ".step_000004-arith.jsonl.k1ll.tmp",
                 run_dir / "checkpoints" / ".step_000004.k1ll.tmp" / "model.safetensors"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    monkeypatch.setattr(Trainer, "step", step)
    with caplog.at_level("INFO"):
        run_suite(suite, tmp_path / "cut", cache, progress=False)
    assert f"resuming {run_dir.name} from step" in caplog.text
    assert not list((tmp_path / "cut").rglob("*.tmp")), "a temporary file survived the resume"
    assert not (run_dir / RESUME).exists()
    pd.testing.assert_frame_equal(comparable(tmp_path / "cut"), comparable(tmp_path / "whole"))
    assert run_metrics(tmp_path / "cut") == run_metrics(tmp_path / "whole")
    evals = lambda out: sorted(p.name for p in out.glob("runs/*/eval/*"))
    assert evals(tmp_path / "cut") == evals(tmp_path / "whole") and len(evals(tmp_path / "whole")) == 5


def interrupt_suite(tmp_path, workers: int) -> Path:
    # one thread per run in any number of worker processes: one uninterrupted suite serves both cases
    return suite_file(tmp_path, "interrupt", algorithms={"grpo": {}, "dr_grpo": {}}, eval={"n": 2, "k": [1, 2], "every": None},
                      executor={"kind": "local", "workers": workers, "cpus_per_run": 1},
                      train={**SMOKE["train"], "checkpoint_every": 1, "keep_checkpoints": 2})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    code, err = cli_in_process("run", str(interrupt_suite(tmp, 1)), "--out", str(tmp / "whole"), "--cache", str(tmp / "cache"))
    assert code == 0, err
    return tmp / "whole", tmp / "cache"


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_finishes_the_step_saves_and_resumes_where_it_stopped(tmp_path, workers, uninterrupted):
    """SIGINT mid-run (no evaluation point near): exit 130 with a message, a resume point at the
    step reached (train.checkpoint_every: 1), and a re-run that repeats the uninterrupted suite."""
    suite = interrupt_suite(tmp_path, workers)
    whole, cache = uninterrupted

    out = tmp_path / "cut"
    args = [sys.executable, "-m", "harness.cli", "run", str(suite), "--out", str(out), "--cache", str(cache)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(len(p.read_text().splitlines()) >= 3 for p in out.glob("runs/*/metrics.jsonl")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted; re-run the same command to resume" in stderr, stderr[-2000:]
    stopped = [p.parent for p in out.glob("runs/*/metrics.jsonl") if not (p.parent / "DONE").exists()]
    assert stopped and all((d / "resume.pt").exists() for d in stopped)
    assert all(len(list((d / "checkpoints").glob("step_*"))) <= 2 for d in stopped)  # keep_checkpoints

    code, err = cli_in_process("run", str(suite), "--out", str(out), "--cache", str(cache))
    assert code == 0, err
    pd.testing.assert_frame_equal(comparable(out), comparable(whole))
    assert run_metrics(out) == run_metrics(whole)
