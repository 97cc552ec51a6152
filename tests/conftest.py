import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# the cores are shared among pytest-xdist's workers and the processes a test starts (the CLI, torchrun's
# ranks, spawned workers), which read OMP_NUM_THREADS: threads beyond the cores spin idle. A run made in
# this process uses the same count as one in a subprocess, since CPU results depend on it.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", str(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))))
torch.set_num_threads(THREADS)


def pytest_collection_modifyitems(items):
    """Files marked `slow` first: pytest-xdist hands out whole files in collection order, and a long one
    handed out last would run alone at the end while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def grainbench(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)


def cli_output_in_process(*args: str) -> tuple[int, str, str]:
    """The CLI's entry point run in this process: its exit code (0 for a normal return), standard output
    and standard error. A subprocess spends ~5 s importing torch and transformers before any work, so
    `grainbench` (a real process) is kept for what only a process shows: a shell's exit code, signals,
    a fresh interpreter, a plugin on another path."""
    from harness.cli import main

    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["grainbench", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def cli_in_process(*args: str) -> tuple[int, str]:
    """`cli_output_in_process` for the cases that read only the exit code and standard error."""
    code, _, err = cli_output_in_process(*args)
    return code, err


@pytest.fixture
def float64():
    """float64 as the default dtype for one test: the default belongs to the process, which runs other
    tests (and runs of the CLI) after it."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA} (it sits beside the checkout in development and CI)")
    return SHARED_DATA
