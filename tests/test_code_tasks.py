"""Code benchmarks on the real files: references pass, stubbed references fail, completions are extracted."""

import ast
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.spec.plugins import make_task
from tasks.code.extract import extract_program

pytestmark = pytest.mark.slow  # minutes of end-to-end work: started first (conftest.py)


def stub(reference: str, entry_point: str) -> str:
    """The reference with `entry_point`'s body replaced by `return None` (a `pass` body is the same program)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the datasets' own invalid escapes
        tree = ast.parse(reference)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            node.body = [ast.Return(ast.Constant(None))]
    return ast.unparse(tree)


def verdicts(task, programs):
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda rp: task.verify(*rp).status, programs))


@pytest.mark.parametrize("name, folder, split, count, options", [
    ("humaneval", "humaneval", "test", 164, {}),
    ("humaneval_plus", "humaneval_plus", "test", 164, {}),
    ("mbpp", "mbpp", "test", 500, {}),
    ("mbpp", "mbpp", "train", 374, {}),
    ("mbpp", "mbpp", "validation", 90, {}),
    ("mbpp", "mbpp", "prompt", 10, {}),
    ("mbpp", "mbpp", "test", 257, {"sanitized": True}),
    ("mbpp_plus", "mbpp_plus", "test", 378, {}),
])
def test_references_pass_and_stubs_fail(shared_data, name, folder, split, count, options):
    task = make_task(name, {"path": str(shared_data / folder), **options})
    records = task.records(split)
    assert len(records) == count
    results = verdicts(task, [(r, r.reference) for r in records])
    failing = [r.id for r, v in zip(records, results) if v != "pass"]
    assert not failing, failing
    results = verdicts(task, [(r, stub(r.reference, r.entry_point)) for r in records])
    passing = [r.id for r, v in zip(records, results) if v == "pass"]
    assert not passing, passing


def test_extraction_forms():
    prompt = "from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
    fenced = "Here you go:\n```python\ndef f(xs):\n    return sum(xs)\n```\nDone."
    assert extract_program(fenced, prompt, "f", continuation=True) == "from typing import List\ndef f(xs):\n    return sum(xs)"
    body = "    return sum(xs)\n\n\ndef check():\n    pass\n"
    assert extract_program(body, prompt, "f", continuation=True).rstrip() == prompt + "    return sum(xs)"
    bare = "def f(xs):\n    return sum(xs)\n```\nExplanation follows"
    assert extract_program(bare, "", "f") == "def f(xs):\n    return sum(xs)\n"
    two = "```python\nimport math\n```\n```python\ndef f(xs):\n    return 0\n```"
    assert extract_program(two, "", "f") == "def f(xs):\n    return 0"


def test_humaneval_task_scores_completions_in_parallel(shared_data):
    task = make_task("humaneval", {"path": str(shared_data / "humaneval"), "template": "plain"})
    problems = task.eval_problems(2)
    assert problems[0].prompt.startswith("\n\ndef has_close_elements") or "has_close_elements" in problems[0].prompt
    right = [task.record(p.id).reference[len(task.record(p.id).prompt):] for p in problems]
    scores = task.score_many(problems * 2, right + ["    return None\n", "    while True: pass\n"])
    assert [s.correct for s in scores] == [True, True, False, False]
    assert scores[3].answer == "timeout" and scores[0].reward == 1.0


def test_time_limit_follows_the_reference_runtime(shared_data):
    task = make_task("mbpp", {"path": str(shared_data / "mbpp"), "timeout_floor_s": 0.5, "timeout_factor": 3.0})
    record = task.records("test")[0]
    limit = task.time_limit(record)
    assert limit == max(0.5, 3.0 * task._limits[record.id]) and task._limits[record.id] > 0


def test_synth_code_demonstrations_pass_and_wrong_functions_fail():
    import random

    from tasks.code.synth import SynthCode

    task = SynthCode()
    pairs = task._sample(6, random.Random(0), "eval")
    problems = [p for p, _ in pairs]
    solutions = [s for _, s in pairs]
    scores = task.score_many(problems * 2, [f"```python\n{s}```" for s in solutions] + ["def f(x):\n    return x\n"] * 6)
    assert [s.correct for s in scores[:6]] == [True] * 6
    assert not any(s.correct for s in scores[6:])  # no generated function is the identity on 5 inputs
    evals = task.eval_problems()
    assert len({p.id for p in evals}) == task.eval_size and [p.id for p in evals] == [p.id for p in SynthCode().eval_problems()]
    train = task.train_problems(500, random.Random(1))
    assert not {p.prompt for p in evals} & {p.prompt for p in train}


def test_mbpp_tunes_on_its_official_validation_split(shared_data):
    import random

    task = make_task("mbpp", {"path": str(shared_data / "mbpp")})
    validation = {p.id for p in task.validation_problems()}
    assert len(validation) == 90
    assert not validation & {p.id for p in task.train_problems(2000, random.Random(0))}
    assert not {p.prompt for p in task.validation_problems()} & {p.prompt for p in task.eval_problems()}


def test_a_code_task_has_no_majority_vote_and_a_math_task_votes_by_equivalence():
    import math

    from harness.engines.hf import HFEngine
    from harness.evaluation.evaluator import evaluate
    from harness.spec.config import EmbeddedModel
    from harness.training.embedded import build_model, build_tokenizer
    from tasks.arith import Arith
    from tasks.code.synth import SynthCode

    tok = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tok, 0)
    options = dict(n=3, ks=[1], limit=2, temperature=1.0, max_new_tokens=8, seed=0)
    _, code = evaluate(HFEngine(model, tok), tok, SynthCode(), **options)
    _, arith = evaluate(HFEngine(model, tok), tok, Arith(), **options)
    assert math.isnan(code["maj@3"])  # "pass" being the commonest status is no vote over answers
    assert 0.0 <= arith["maj@3"] <= 1.0


def test_a_repeated_completion_is_run_once_and_scored_alike():
    """Within one call (a group's samples) and across calls sharing the task's memo (later evaluations)."""
    import random
    import threading

    from tasks.code.checking import scores_in_parallel
    from tasks.code.synth import SynthCode

    task = SynthCode()
    pairs = task._sample(3, random.Random(0), "eval")
    problems = [p for p, _ in pairs] * 4  # a group of 4 samples per problem
    completions = [f"```python\n{s}```" for _, s in pairs] * 2 + ["def f(x):\n    return x\n"] * 6
    runs, lock = [], threading.Lock()

    def counted(problem, completion):
        with lock:
            runs.append((problem.id, completion))
        return task.check(problem, completion)

    known = {}
    scores = scores_in_parallel(counted, problems, completions, known=known)
    assert sorted(runs) == sorted(set(zip([p.id for p in problems], completions)))  # each distinct pair once
    assert len(runs) == 6 and [s.correct for s in scores] == [True] * 6 + [False] * 6
    again = scores_in_parallel(counted, problems[::-1], completions[::-1], known=known)  # a later evaluation
    assert len(runs) == 6 and again == scores[::-1]
    other = task._sample(1, random.Random(1), "eval")[0][0]  # the same completion for another problem runs
    assert not scores_in_parallel(counted, [other], [completions[0]], known=known)[0].correct and len(runs) == 7
