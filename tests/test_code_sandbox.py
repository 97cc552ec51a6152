"""The sandbox against hostile programs: right verdicts, and nothing escapes."""

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time

import pytest

from tasks.code import check_solution, run_program
from tasks.code.sandbox import Program, run, sandbox_mode

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


class Listener:
    """A TCP listener on 127.0.0.1 that counts accepted connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.accepted, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()



@pytest.fixture
def attacks(shared_data):
    return shared_data / "code_attacks_dev"


@pytest.mark.parametrize("env", [{"GRAINBENCH_SANDBOX_FORK": "1"}, {"GRAINBENCH_SANDBOX_FORK": "0"},
                                 {"GRAINBENCH_SANDBOX": "rlimit"}], ids=["fork-server", "bwrap", "rlimit"])
def test_hostile_programs(attacks, tmp_path, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    expected = json.loads((attacks / "expected.json").read_text())
    assert sorted(expected) == sorted(p.name for p in attacks.glob("*.py"))  # every program has its verdict
    secret_value = secrets.token_hex(16)
    monkeypatch.setenv("GRAINBENCH_TEST_SECRET", secret_value)
    failures = []
    for name, spec in sorted(expected.items()):
        canary = tmp_path / name / "canary"
        canary.mkdir(parents=True)
        (canary / "keep.txt").write_text("original")
        secret = tmp_path / name / "secret.txt"
        secret_text = secrets.token_hex(16)
        secret.write_text(secret_text)
        listener = Listener()
        source = ((attacks / name).read_text().replace("__CANARY_DIR__", str(canary))
                  .replace("__SECRET_PATH__", str(secret)).replace("__PORT__", str(listener.port)))
        verdict = check_solution(source, "add", ADD_TESTS, timeout_s=3.0)
        time.sleep(0.05)
        listener.close()
        want = spec["verdict"]
        ok = (want == "any" or verdict.status == want or (want == "not_pass" and verdict.status != "pass"))
        output = verdict.stdout + verdict.stderr
        escaped = {
            "verdict": not ok,
            "canary changed": sorted(p.name for p in canary.iterdir()) != ["keep.txt"] or (canary / "keep.txt").read_text() != "original",
            "secret leaked": secret_text in output,
            "env leaked": secret_value in output,
            "socket connected": listener.accepted > 0,
            "orphan alive": bool(_processes_with("grainbench-orphan-marker")),
            "output over cap": len(verdict.stdout.encode()) > 1 << 20,
        }
        failures += [f"{name}: {what} (verdict {verdict.status}: {verdict.detail}; stderr ...{verdict.stderr[-300:]!r})"
                     for what, bad in escaped.items() if bad]
    assert not failures, failures
    assert check_solution("def add(a, b):\n    return a + b\n", "add", ADD_TESTS).status == "pass"  # the harness lives on


# every way a program can be run: fork server in bwrap (default), fresh bwrap per program, rlimit fallback
MODES = [{}, {"GRAINBENCH_SANDBOX_FORK": "0"}, {"GRAINBENCH_SANDBOX": "rlimit"}]


@pytest.fixture(params=MODES, ids=["fork-server", "bwrap", "rlimit"])
def mode(request, monkeypatch):
    for key, value in request.param.items():
        monkeypatch.setenv(key, value)
    return request.param


def test_wall_timeout_kills_a_grandchild_that_ignores_sigterm(mode):
    marker = f"grainbench-grandchild-{secrets.token_hex(4)}"
    source = f"""
import subprocess, sys, time
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", code, {marker!r}])
time.sleep(600)
"""
    started = time.monotonic()
    verdict = run_program(source, timeout_s=1.5)
    assert verdict.status == "timeout" and time.monotonic() - started < 5
    time.sleep(0.2)
    assert _processes_with(marker) == []


@pytest.mark.parametrize("source, status", [("print('ok')", "pass"), ("raise SystemExit(3)", "fail"),
                                            ("import time\ntime.sleep(30)", "timeout"), ("1/0", "fail")])
def test_run_program_verdicts(mode, source, status):
    verdict = run_program(source, timeout_s=1.0)
    assert verdict.status == status
    assert verdict.duration_s < 3


def test_output_is_captured_and_the_environment_scrubbed(mode, monkeypatch):
    monkeypatch.setenv("GRAINBENCH_PRIVATE_TOKEN", "hunter2")
    verdict = run_program("import os, sys\nprint('to out')\nprint('to err', file=sys.stderr)\nprint(dict(os.environ))")
    assert verdict.status == "pass" and "to out" in verdict.stdout and "to err" in verdict.stderr
    assert "hunter2" not in verdict.stdout and "GRAINBENCH_PRIVATE_TOKEN" not in verdict.stdout


def test_the_harness_programs_compiled_once_still_run_as_written(mode):
    """A fork server compiles the harness's own files once per content and forks them compiled: each
    run still runs its own bytes, as __main__, with its arguments, and a traceback names the file."""
    for word in ("first", "second"):
        source = (f"import sys\nif __name__ == '__main__':\n    print({word!r}, __file__, len(sys.argv))\n"
                  f"    raise ValueError({word!r})\n")
        verdict, _ = run(Program({"main.py": source}, precompiled=("main.py",)), 5.0)
        said = verdict.stdout.split()
        assert verdict.status == "fail" and said[0] == word and said[1].endswith("main.py") and said[2] == "3"
        assert 'main.py", line 4' in verdict.stderr and f"ValueError: {word}" in verdict.stderr


def test_the_runner_verdict_ignores_printed_claims(mode):
    tricks = "def add(a, b):\n    print('PASS'); print('ok')\n    return 0\n"
    assert check_solution(tricks, "add", ADD_TESTS).status == "fail"
    numpy_like = "def add(a, b):\n    return float(a + b)\n"  # 3.0 == 3 is a right answer
    assert check_solution(numpy_like, "add", ADD_TESTS).status == "pass"


def test_bwrap_mode_is_used_where_namespaces_work():
    probe = subprocess.run(["unshare", "--user", "--net", "true"], capture_output=True) if sys.platform == "linux" else None
    if probe is None or probe.returncode != 0:
        pytest.skip("this machine has no user namespaces: the rlimit fallback is the sandbox here")
    assert sandbox_mode() == "bwrap"


def test_plain_data_round_trips_and_nothing_else_crosses():
    import pickle

    from tasks.code import plain

    values = [None, True, 0, -2**100, 1.5, float("inf"), 1 - 2j, "é", b"\x00\xff", [1, (2, 3)], {"a": {1, 2}},
              frozenset({(1, "x")}), {(1, 2): [None]}]
    for value in values:
        back = plain.decode(plain.encode(value))
        assert back == value and type(back) is type(value)

    class Liar(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    # a subclass of a plain type crosses as the plain value it holds: its own methods never decide
    from collections import Counter, OrderedDict, defaultdict, namedtuple

    subclassed = [Counter("aab"), defaultdict(list, {1: [2]}), namedtuple("P", "a b")(1, 2), [Liar("no")],
                  {Liar("k"): OrderedDict(a=1)}, int, (str, frozenset)]
    plain_values = [{"a": 2, "b": 1}, {1: [2]}, (1, 2), ["no"], {"k": {"a": 1}}, int, (str, frozenset)]
    for value, expected in zip(subclassed, plain_values):
        back = plain.decode(plain.encode(value))
        assert back == expected and repr(back) == repr(expected)
    assert plain.decode(plain.encode(Liar("no"))) != "yes"
    for bad in (object(), lambda: 1, iter([1]), [1, object()], type(None), object):
        with pytest.raises(plain.Unencodable):
            plain.encode(bad)
    # with handles allowed, a non-plain object stays behind: only its handle crosses
    kept = []
    data = plain.encode([1, object()], register=lambda obj: kept.append(obj) or len(kept) - 1)
    assert plain.decode(data, resolve=lambda n: ("handle", n)) == [1, ("handle", 0)] and type(kept[0]) is object
    with pytest.raises(ValueError, match="handle"):
        plain.decode(data)
    # a stream that would build anything else is refused, whatever the sender wrote
    from fractions import Fraction

    for hostile in (pickle.dumps(Fraction(1, 3)), pickle.dumps(ValueError("x")), b"cos\nsystem\n(S'true'\ntR.", b"\x80\x05junk"):
        with pytest.raises(ValueError):
            plain.decode(hostile)


READER = r"""
import re
def add(a, b):
    for x, y, z in re.findall(r"add\((-?\d+), (-?\d+)\) == (-?\d+)", open("tests.py").read()):
        if (int(x), int(y)) == (a, b):
            return int(z)
    return a * b
"""
ARITH = ["assert add(1, 2) == 3", "assert add(2, 3) == 5"]


@pytest.mark.parametrize("source, tests", [
    # shadow a builtin the tests use
    ("def abs(x):\n    return 0\ndef add(a, b):\n    return a * b\n", ["assert abs(add(2, 3) - 5) < 1e-9"]),
    # shadow the checker's tolerance helper
    ("def _gb_close(*a):\n    return True\ndef add(a, b):\n    return a * b\n",
     ["assert _gb_close(add(2, 3), 5, 0)"]),
    # read the expected values from the test file
    (READER, ARITH),
    # plant a module the tests import
    ("open('textwrap.py', 'w').write('def indent(*a):\\n    return \\'5\\'\\n')\ndef add(a, b):\n    return a * b\n",
     ["import textwrap", "assert textwrap.indent(str(add(2, 3)), '') == '5'"]),
], ids=["builtin", "helper", "test-file", "module"])
def test_what_the_checker_uses_is_out_of_the_candidates_reach(mode, source, tests):
    assert check_solution(source, "add", tests).status == "fail"
    assert check_solution("def add(a, b):\n    return a + b\n", "add", tests).status == "pass"


def test_the_test_file_reader_would_pass_if_it_could_read(tmp_path, monkeypatch):
    """The attack above is real: given the test file, it answers every assert."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests.py").write_text("\n".join(ARITH))
    scope = {}
    exec(READER, scope)
    assert scope["add"](1, 2) == 3 and scope["add"](2, 3) == 5


def test_a_correct_candidate_named_like_a_builtin_is_still_called(mode):
    assert check_solution("def max(xs):\n    return sorted(xs)[-1]\n", "max", ["assert max([3, 1, 2]) == 3"]).status == "pass"
    assert check_solution("def max(xs):\n    return xs[0]\n", "max", ["assert max([1, 3, 2]) == 3"]).status == "fail"
