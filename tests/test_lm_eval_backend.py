"""`grainbench eval --backend lm-eval`: lm_eval.simple_evaluate on a checkpoint, folded into grainbench's schema."""

import json

import pandas as pd
import pytest

from harness.spec.config import EmbeddedModel, WarmStart
from harness.training.embedded import base_checkpoint
from tasks.arith import Arith
from tests.conftest import cli_in_process

pytest.importorskip("lm_eval", reason="the lm-eval backend needs lm-eval (pip install -e '.[lm-eval]')")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small untrained model with room for GSM8K prompts (greedy output is deterministic, if meaningless)."""
    spec = EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1, max_positions=1024)
    path, _ = base_checkpoint(spec, WarmStart(steps=0), [Arith()], tmp_path_factory.mktemp("cache"))
    return path


def evaluate(model_dir, out, shared_data, backend, *extra):
    code, err = cli_in_process("eval", "--backend", backend, "--model", str(model_dir), "--task", "gsm8k", "--limit", "4",
                               "--option", f"path={shared_data / 'gsm8k'}", "--out", str(out), *extra)
    assert code == 0, err
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return records, pd.read_csv(out / "summary.csv").iloc[0]


def test_greedy_completions_match_the_grainbench_backend(model_dir, shared_data, tmp_path):
    greedy = ("--n", "1", "--k", "1", "--temperature", "0", "--max-new-tokens", "12")
    ours, ours_row = evaluate(model_dir, tmp_path / "ours", shared_data, "grainbench", *greedy)
    theirs, their_row = evaluate(model_dir, tmp_path / "lm", shared_data, "lm-eval", *greedy)
    assert [r["problem_id"] for r in theirs] == [r["problem_id"] for r in ours]
    assert all(len(r["completion"]) >= 5 for r in theirs)  # something to compare
    # lm-eval cuts at its stop sequence; otherwise the same prompt and the same greedy tokens
    assert [r["completion"] for r in theirs] == [r["completion"].split("\nQuestion:")[0] for r in ours]
    assert their_row["backend"] == "lm-eval" and ours_row["backend"] == "grainbench"
    assert their_row["pass@1"] == ours_row["pass@1"]


def test_samples_and_metrics_fold_into_the_summary_schema(model_dir, shared_data, tmp_path):
    records, row = evaluate(model_dir, tmp_path / "lm", shared_data, "lm-eval", "--n", "3", "--k", "1,2",
                            "--max-new-tokens", "8")
    assert len(records) == 4 * 3 and {r["sample"] for r in records} == {0, 1, 2}
    for col in ["task", "task_version", "scorer_version", "problems", "n", "pass@1", "pass@2", "maj@3", "mean_length"]:
        assert col in row.index, col
    by_problem = pd.DataFrame(records).groupby("problem_id")["correct"].mean()
    assert row["pass@1"] == pytest.approx(by_problem.mean())
    assert row["problems"] == 4 and row["n"] == 3 and 0 <= row["pass@1"] <= row["pass@2"] <= 1


def test_unsupported_task_is_a_clear_error(model_dir, tmp_path):
    code, err = cli_in_process("eval", "--backend", "lm-eval", "--model", str(model_dir), "--task", "arith",
                               "--out", str(tmp_path / "x"))
    assert code == 2 and "has task files for gsm8k, math500, not 'arith'" in err
