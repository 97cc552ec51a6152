"""Paired comparisons against a baseline, on run files with known numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import UserError
from harness.results import comparison
from tests.conftest import cli_in_process

PROBLEMS, SAMPLES, SEEDS = 200, 4, (0, 1, 2)


def write_run(results, label, seed, p_correct, rng, tasks=("arith",)):
    """A finished run whose final eval records are Bernoulli(p_correct[problem]) samples."""
    run_id = f"{label}-arith-{seed}-x"
    run_dir = results / "runs" / run_id
    (run_dir / "eval").mkdir(parents=True)
    evals = {}
    for task in tasks:
        records = [{"task": task, "problem_id": f"{task}-{i}", "sample": j, "correct": bool(rng.random() < p_correct[i])}
                   for i in range(PROBLEMS) for j in range(SAMPLES)]
        (run_dir / "eval" / f"step_000010-{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        evals[task] = {"pass@1": float(np.mean([r["correct"] for r in records]))}
    summary = {"run_id": run_id, "label": label, "seed": seed, "steps": 10, "eval": evals,
               "curve": [{"step": 0, "eval": evals}, {"step": 10, "eval": evals}]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "DONE").write_text("")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Problems of varying difficulty; `better` adds 0.1 to every problem's success rate, `same` is an
    independent draw from the baseline's distribution (an A/A pair)."""
    out = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(7)
    difficulty = rng.uniform(0.1, 0.8, PROBLEMS)
    for seed in SEEDS:
        write_run(out, "grpo", seed, difficulty, rng, ("arith", "code"))
        write_run(out, "same", seed, difficulty, rng, ("arith", "code"))
        write_run(out, "better", seed, difficulty + 0.1, rng, ("arith", "code"))
    return out


def test_a_planted_difference_is_found_and_an_aa_pair_is_not(results):
    table = comparison.compare(results, "grpo", resamples=4000)
    for task in ("arith", "code", "overall"):
        better = table[(table["algorithm"] == "better") & (table["task"] == task)].iloc[0]
        same = table[(table["algorithm"] == "same") & (table["task"] == task)].iloc[0]
        assert better["diff"] == pytest.approx(0.1, abs=0.03)
        assert better["ci_low"] > 0 and better["significant"] and better["p_holm"] < 0.01
        assert better["prob_improvement"] > 0.8 and better["iqm"] > better["baseline_iqm"]
        assert same["ci_low"] < 0 < same["ci_high"] and not same["significant"]
        assert (better["seeds"], better["problems"]) == (3, PROBLEMS * (2 if task == "overall" else 1))


def test_the_interval_resamples_seeds_too():
    """A difference that holds on one seed and reverses on the others has a wide interval."""
    d = np.array([[0.3] * 50, [-0.1] * 50, [-0.05] * 50])
    boot = comparison.crossed_bootstrap(d, 4000, np.random.default_rng(0))
    low, high = np.percentile(boot, [2.5, 97.5])
    assert low < 0 < high  # problems alone (no seed resampling) would give a point: every column is equal


def test_holm_adjustment():
    assert comparison.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert comparison.holm([0.5]) == [0.5]


def test_unknown_baseline_is_a_user_error(results):
    with pytest.raises(UserError, match="baseline 'ppo' is not a row.*rows: better, grpo, same"):
        comparison.compare(results, "ppo")


def test_compare_command_writes_the_tables(results):
    code, err = cli_in_process("compare", str(results), "--baseline", "grpo", "--resamples", "1000")
    assert code == 0, err
    table = pd.read_csv(results / "comparisons.csv")
    assert set(table["algorithm"]) == {"better", "same"} and (results / "comparisons.md").read_text().startswith("| algorithm")
    code, err = cli_in_process("compare", str(results), "--baseline", "ppo")
    assert code == 2 and "baseline 'ppo' is not a row" in err and err.count("error:") == 1
