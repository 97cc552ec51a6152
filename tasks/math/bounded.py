"""A hard time bound on symbolic checks: they run in a worker process that is killed when late.

Signal-based timeouts (math-verify's `signal.alarm`) only work on the main thread of the main
interpreter; elsewhere they fail silently or raise, a known cause of hangs and all-zero rewards
in RL trainers. A worker started with `subprocess` is bounded from any thread, inside process
pools (whose daemonic workers may not use `multiprocessing` children) and inside Ray tasks: the
parent waits on the worker's pipe with a deadline and SIGKILLs it when the deadline passes.
Protocol: one JSON line `[pred, gold]` per check in, one line `1`/`0` out.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 3.0
STARTUP_TIMEOUT_S = 120.0  # importing sympy and the LaTeX parser is not part of any check's bound


class BoundedChecker:
    """Runs `tasks.math.symbolic.equivalent` in a worker process, each check bounded by `timeout_s`.

    The bound covers everything a check waits for, including a worker restarting after its
    predecessor was killed (a replacement is started at once, so it is usually ready). Only the
    process's very first start (imports, ~1 s) is outside it; call `start()` to pay it up front.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.timeout_s = timeout_s
        self.timeouts = 0  # checks that were cut off (counted as not equivalent)
        self._proc: subprocess.Popen | None = None
        self._ready = False
        self._started_once = False
        self._buffer = b""
        self._lock = threading.Lock()

    def start(self) -> "BoundedChecker":
        with self._lock:
            self._ensure_ready(time.monotonic() + STARTUP_TIMEOUT_S)
        return self

    def check_many(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Verdicts in order; a check past the bound is False and the worker is replaced."""
        with self._lock:
            out: list[bool] = []
            while len(out) < len(pairs):
                out.extend(self._run(pairs[len(out) :]))
            return out

    def _run(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Pipelines `pairs` through the worker; stops early (with a False) at the first late check."""
        deadline = time.monotonic() + (self.timeout_s if self._started_once else STARTUP_TIMEOUT_S)
        if not self._ensure_ready(deadline):
            return self._late(kill=False)
        proc = self._proc
        payload = "".join(json.dumps(p) + "\n" for p in pairs).encode()
        writer = threading.Thread(target=self._write, args=(proc, payload), daemon=True)
        writer.start()
        verdicts: list[bool] = []
        while len(verdicts) < len(pairs):
            line = self._readline(deadline)
            if line is None:
                verdicts += self._late(kill=True)
                break
            verdicts.append(line.strip() == b"1")
            deadline = time.monotonic() + self.timeout_s
        writer.join()
        return verdicts

    def _late(self, kill: bool) -> list[bool]:
        self.timeouts += 1
        log.warning("math check exceeded %.1f s; counted as not equivalent", self.timeout_s)
        if kill:
            self.close()
            self._spawn()  # the replacement imports while the caller moves on
        return [False]

    @staticmethod
    def _write(proc: subprocess.Popen, payload: bytes) -> None:
        try:
            proc.stdin.write(payload)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the worker was killed mid-batch; the reader has already given up on it

    def _readline(self, deadline: float) -> bytes | None:
        """One line from the worker before `deadline`, or None (late, or the worker died)."""
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen([sys.executable, "-m", "tasks.math.symbolic"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self._ready, self._buffer = False, b""

    def _ensure_ready(self, deadline: float) -> bool:
        """A worker that has said `ready`; False if it is still starting at `deadline`."""
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._spawn()
        if not self._ready:
            line = self._readline(deadline)
            if line is None and self._proc.poll() is not None:
                self.close()
                raise RuntimeError("the math equivalence worker exited at start; is math-verify installed?")
            if line is None:
                return False
            self._ready = self._started_once = line == b"ready"
        return True

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                stream.close()
            self._proc = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


_checkers: dict[int, BoundedChecker] = {}


def default_checker() -> BoundedChecker:
    """This process's shared checker (keyed by pid, so a forked child starts its own worker)."""
    pid = os.getpid()
    if pid not in _checkers:
        _checkers[pid] = BoundedChecker()
    return _checkers[pid]
