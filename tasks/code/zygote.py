"""Fork server that runs inside one long-lived sandbox: each program is a fork of a warm interpreter.

A fresh interpreter per program spends most of a short program's time starting up (and importing
`typing`); forking one that has already done so costs a millisecond. Each program still gets its
own process, session, working directory, resource limits and pipes; after it ends (or is killed
at its wall timeout) every other process in the sandbox's PID namespace is killed and /tmp is
emptied, so nothing a program leaves behind meets the next one. The sandbox has no capabilities
and this server is not dumpable, so a program cannot trace it or read its memory.

A program that ships `candidate.py` (a checked solution: see `tasks/code/checking.py`) also gets
a clean candidate process: not a fork of this server, whose memory has held every job's tests, but
of a *spawner* forked once at start-up, before any job, which only ever sees candidates' sources.
The program receives two pipe ends to it as its third and fourth arguments.

The harness's own programs (the checker, the candidate's loader: the same bytes run after run)
are named in a job's `precompiled`: the server (or the spawner, for `candidate.py`) compiles each
once and forks it compiled: with the warm imports, that halves the cost of a short program.
Anything else, a program under test above all, is compiled in its own process, as `runpy` does.

Protocol on stdin/stdout: 8-byte length + pickle. In: {"files", "main", "feed", "timeout",
"report_cap", "output_cap", "cpu", "file_bytes", "precompiled"}; out: {"timed_out", "code", "out",
"err", "report", "retire"} (retire: the spawner is gone, start a new server).
"""

import gc
import os
import pickle
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
import types

for _name in ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "copy",
              "string", "json", "fractions", "decimal", "datetime", "traceback", "statistics", "random",
              "ast", "ctypes", "importlib", "runpy", "pkgutil"):  # ast: a traceback's carets
    try:
        __import__(_name)  # warm: every forked program finds these already imported
    except ImportError:
        pass
gc.freeze()  # the collector of a forked program never walks (and so never copies) the warm objects

SELF = os.getpid()
PR_SET_DUMPABLE = 4
SPAWNER = {"pid": None, "socket": None, "alive": False}
COMPILED: dict[bytes, object] = {}  # the harness's own programs' code, by source


def _not_dumpable() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:
        pass


def _read_message(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _write_message(stream, obj) -> None:
    data = pickle.dumps(obj)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _sweep() -> None:
    """Kill every process of this PID namespace but its init (1) and this server, then reap."""
    for _ in range(100):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, SELF, SPAWNER["pid"])]
        if not others:
            break
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
        time.sleep(0.001)
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == SPAWNER["pid"]:
            SPAWNER["alive"] = False


def _empty_tmp() -> None:
    for entry in os.listdir("/tmp"):
        if entry == ".zygote":  # this server's own code, mounted read-only
            continue
        path = os.path.join("/tmp", entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def _become_program(workdir: str, out_w: int, err_w: int, keep: tuple[int, ...], cpu: int, file_bytes: int) -> None:
    """In a fresh fork: own session and directory, output to the pipes, only the `keep` fds, limits."""
    os.setsid()
    os.chdir(workdir)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    low = 3  # close every inherited fd (the server's own pipes above all) but the program's own
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 4096)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def _compiled(path: str):
    """The code of one of the harness's own program files, compiled once per content; None where it
    cannot be (the program's own process then meets the same error)."""
    try:
        with open(path, "rb") as f:
            source = f.read()
        if source not in COMPILED:
            if len(COMPILED) >= 16:
                COMPILED.clear()
            COMPILED[source] = compile(source, os.path.basename(path), "exec")
    except (OSError, SyntaxError, ValueError):
        return None
    return COMPILED[source]


def _run_path(main: str, argv: list[str], compiled=None) -> None:
    """Run a program file (or its `compiled` code) as __main__ in this process, and leave with its
    exit status."""
    try:
        sys.argv = [main, *argv]
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        if compiled is None:
            import runpy

            runpy.run_path(main, run_name="__main__")
        else:
            module = types.ModuleType("__main__")
            module.__file__ = main
            sys.modules["__main__"] = module
            exec(compiled, module.__dict__)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _spawner(sock: socket.socket) -> None:
    """The clean parent of candidate processes: forked before any job, it receives a candidate's
    working directory, limits and pipe ends, and forks the candidate."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # candidates are reaped by the kernel
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the server's protocol pipes are not ours
    os.dup2(null, 1)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        request = pickle.loads(data)
        compiled = _compiled(os.path.join(request["workdir"], "candidate.py")) if request["precompiled"] else None
        if os.fork() == 0:
            try:
                out_w, err_w, requests_r, replies_w = fds
                _become_program(request["workdir"], out_w, err_w, (requests_r, replies_w), request["cpu"], request["file_bytes"])
            except BaseException:
                os._exit(1)
            _run_path("candidate.py", [str(requests_r), str(replies_w)], compiled)
        for fd in fds:
            os.close(fd)


def _start_spawner() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ours.close()
        _spawner(theirs)
    theirs.close()
    SPAWNER.update(pid=pid, socket=ours, alive=True)


def _spawn_candidate(workdir: str, out_w: int, err_w: int, cpu: int, file_bytes: int,
                     precompiled: bool) -> tuple[int, int] | None:
    """(requests_w, replies_r) to a fresh candidate process in `workdir`, or None without a spawner."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    try:
        request = pickle.dumps({"workdir": workdir, "cpu": cpu, "file_bytes": file_bytes, "precompiled": precompiled})
        socket.send_fds(SPAWNER["socket"], [request], [out_w, err_w, requests_r, replies_w])
    except OSError:
        SPAWNER["alive"] = False
    os.close(requests_r)
    os.close(replies_w)
    if not SPAWNER["alive"]:
        os.close(requests_w)
        os.close(replies_r)
        return None
    return requests_w, replies_r


def _run(job: dict, counter: int) -> dict:
    if "candidate.py" in job["files"] and not SPAWNER["alive"]:
        return {"retire": True, "not_run": True}  # never fork a candidate from this server's memory
    workdir = f"/tmp/run-{counter}"
    os.mkdir(workdir)
    for name, content in job["files"].items():
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    feed_r, feed_w = os.pipe()
    report_r, report_w = os.pipe()
    candidate = ()
    if "candidate.py" in job["files"]:
        candidate = _spawn_candidate(workdir, out_w, err_w, job["cpu"], job["file_bytes"],
                                     "candidate.py" in job["precompiled"])
        if candidate is None:
            for fd in (out_r, out_w, err_r, err_w, feed_r, feed_w, report_r, report_w):
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            return {"retire": True, "not_run": True}
    compiled = _compiled(os.path.join(workdir, job["main"])) if job["main"] in job["precompiled"] else None
    pid = os.fork()
    if pid == 0:  # the program
        try:
            _become_program(workdir, out_w, err_w, (feed_r, report_w, *candidate), job["cpu"], job["file_bytes"])
        except BaseException:
            os._exit(1)
        _run_path(job["main"], [str(feed_r), str(report_w), *map(str, candidate)], compiled)
    for fd in (out_w, err_w, feed_r, report_w, *candidate):
        os.close(fd)
    if job["feed"]:
        os.write(feed_w, job["feed"])
    os.close(feed_w)
    caps = {out_r: job["output_cap"], err_r: job["output_cap"], report_r: job["report_cap"]}
    kept = {fd: bytearray() for fd in caps}
    open_fds = set(caps)
    exited = os.pidfd_open(pid)
    deadline = time.monotonic() + job["timeout"]
    status, timed_out = None, False
    while open_fds or status is None:
        if status is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
        else:
            left = 0  # the program is gone: take what is already written, don't wait on grandchildren
        ready, _, _ = select.select(list(open_fds) + ([exited] if status is None else []), [], [], left)
        if exited in ready:
            status = os.waitpid(pid, 0)[1]
            ready.remove(exited)
        elif status is not None and not ready:
            break
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                open_fds.discard(fd)
            elif len(kept[fd]) < caps[fd]:
                kept[fd] += chunk[: caps[fd] - len(kept[fd])]
    os.close(exited)
    _sweep()
    if status is None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
    for fd in caps:
        os.close(fd)
    shutil.rmtree(workdir, ignore_errors=True)
    _empty_tmp()
    code = None if timed_out else (os.waitstatus_to_exitcode(status) if status is not None else None)
    return {"timed_out": timed_out, "code": code, "out": bytes(kept[out_r]), "err": bytes(kept[err_r]),
            "report": bytes(kept[report_r]), "retire": not SPAWNER["alive"]}


def serve() -> None:
    _not_dumpable()
    _start_spawner()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _write_message(stdout, "ready")
    counter = 0
    while True:
        job = _read_message(stdin)
        if job is None:
            return
        counter += 1
        _write_message(stdout, _run(job, counter))


if __name__ == "__main__":
    serve()
