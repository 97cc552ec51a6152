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

    The bound starts when a ready worker has the pair: a worker starting (imports take seconds, more
    on a loaded machine) gets `STARTUP_TIMEOUT_S` of its own, so no pair is ever scored without
    having been checked. A late check's worker is killed and a replacement started at once; a pair
    whose worker died under it (not a late one) is checked once more on the replacement.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.timeout_s = timeout_s
        self.timeouts = 0  # checks that were cut off (counted as not equivalent)
        self._proc: subprocess.Popen | None = None
        self._ready = False
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
            retried = -1
            while len(out) < len(pairs):
                verdicts, died = self._run(pairs[len(out) :])
                out.extend(verdicts)
                if died and retried == len(out):  # it crashed the fresh worker too
                    out.append(False)
                elif died:  # the worker crashed under this pair: once more on a fresh one
                    retried = len(out)
            return out

    def _run(self, pairs: list[tuple[str, str]]) -> tuple[list[bool], bool]:
        """Pipelines `pairs` through a ready worker; stops early at the first late check (with a
        False) or when the worker died (with nothing for that pair, and True)."""
        if not self._ensure_ready(time.monotonic() + STARTUP_TIMEOUT_S):
            raise RuntimeError(f"the math equivalence worker did not start within {STARTUP_TIMEOUT_S:.0f} s")
        proc = self._proc
        payload = "".join(json.dumps(p) + "\n" for p in pairs).encode()
        writer = threading.Thread(target=self._write, args=(proc, payload), daemon=True)
        writer.start()
        verdicts: list[bool] = []
        deadline = time.monotonic() + self.timeout_s
        died = False
        while len(verdicts) < len(pairs):
            line = self._readline(deadline)
            if line is None:
                died = time.monotonic() < deadline  # no line and not late: the worker is gone
                if not died:
                    verdicts.append(self._late())
                self.close()
                self._spawn()  # the replacement imports while the caller moves on
                break
            verdicts.append(line.strip() == b"1")
            deadline = time.monotonic() + self.timeout_s
        writer.join()
        return verdicts, died

    def _late(self) -> bool:
        self.timeouts += 1
        log.warning("math check exceeded %.1f s; counted as not equivalent", self.timeout_s)
        return False

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
        # Its own session: a terminal's Ctrl-C reaches the whole foreground group, and a worker killed
        # mid-import would look like a broken install; the parent decides when the worker ends.
        self._proc = subprocess.Popen([sys.executable, "-m", "tasks.math.symbolic"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                      start_new_session=True)
        self._ready, self._buffer = False, b""

    def _ensure_ready(self, deadline: float) -> bool:
        """A worker that has said `ready`; False if it is still starting at `deadline`."""
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._spawn()
        if not self._ready:
            line = self._readline(deadline)
            if line is None and time.monotonic() < deadline:
                self._proc.wait()  # not late: its output ended, so it is exiting
            if line is None and self._proc.poll() is not None:
                self.close()
                raise RuntimeError("the math equivalence worker exited at start; is math-verify installed?")
            if line is None:
                return False
            self._ready = line == b"ready"
        return True

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    stream.close()
                except OSError:  # unflushed input for a worker that is gone
                    pass
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
