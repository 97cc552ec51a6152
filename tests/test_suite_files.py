"""The shipped suite files: the GPU-scale `paper` suite is written out and valid."""

import pytest

from harness.config import load_suite, runs_of
from harness.plugins import ENGINES, TASKS, make_algorithm, task_of
from tests.conftest import ROOT


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
