"""The shipped suite files: the GPU-scale `paper` suite is written out and valid."""

import pytest
import yaml

from harness.spec.config import load_suite, runs_of
from harness.spec.plugins import ENGINES, TASKS, make_algorithm, task_of
from tests.conftest import ROOT, cli_in_process


def test_paper_suite_validates(shared_data, monkeypatch):
    suite = load_suite(ROOT / "suites" / "paper.yaml")
    assert suite.model.path == "Qwen/Qwen2.5-Math-1.5B" and ENGINES.get(suite.engine.name).__name__ == "VLLMEngine"
    assert (suite.tasks.train, suite.tasks.eval) == ("math4500", ["math500", "gsm8k"])
    assert suite.executor.kind == "ray" and suite.executor.gpus_per_run == 1
    assert suite.eval.points == [0.25, 0.5, 0.75]
    runs = runs_of(suite)
    assert len(runs) == (8 + 4 + 1) * 3  # + grpo_kl: GRPO with its paper's KL term
    assert len({r.run_id for r in runs}) == len(runs)
    assert {r.label for r in runs if r.algorithm == "mpo"} == {"mpo_k2", "mpo_k4", "mpo_k8", "mpo_k16"}
    for run in runs:
        make_algorithm(run.algorithm, run.params)
    monkeypatch.setenv("GRAINBENCH_DATA", str(shared_data))  # the suite's data, from local files
    for name in [suite.tasks.train, *suite.tasks.eval]:
        assert name in TASKS.names()
        task_of(name, suite.tasks)


@pytest.mark.parametrize("every, points", [(0.25, [0.25, 0.5, 0.75]), (0.3, [0.3, 0.6, 0.9]), (1.0, []), (None, [])])
def test_eval_schedule_points(every, points):
    suite = load_suite(ROOT / "suites" / "smoke.yaml")
    assert suite.eval.model_copy(update={"every": every}).points == pytest.approx(points)


def test_math4500_is_maths_test_set_minus_math500(shared_data):
    from tasks.data import read_jsonl
    from tasks.math.data import minus_math500

    math4500 = read_jsonl(shared_data / "math4500" / "train.jsonl")
    math500 = read_jsonl(shared_data / "math500" / "test.jsonl")
    # MATH's test set again, MATH-500's problems interleaved as they were
    math_test = [{k: v for k, v in row.items() if k != "idx"} for row in math4500]
    for i, row in enumerate(math500):
        math_test.insert(i * 9, {"problem": " " + row["problem"] + "\n", "solution": row["solution"]})
    derived = minus_math500(math_test, math500)
    assert [r["problem"] for r in derived] == [r["problem"] for r in math4500]
    assert len({r["idx"] for r in derived}) == 4500


def test_validate_schema_only_needs_no_data(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAINBENCH_DATA", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    paper = str(ROOT / "suites" / "paper.yaml")
    code, err = cli_in_process("validate", paper)
    assert code == 2 and "math4500" in err  # a fresh machine without the data: one clear line
    code, err = cli_in_process("validate", "--schema-only", paper)
    assert code == 0, err
    bad = yaml.safe_load((ROOT / "suites" / "paper.yaml").read_text())
    bad["tasks"]["options"] = {"math4500": {"pathh": "x"}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    code, err = cli_in_process("validate", "--schema-only", str(tmp_path / "bad.yaml"))
    assert code == 2 and "pathh" in err
