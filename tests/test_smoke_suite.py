"""The smoke suite end to end through the real CLI: outputs, budget, cache reuse, determinism."""

import json

import pandas as pd
import pytest

from tests.conftest import ROOT, cli_in_process, grainbench

SMOKE = ROOT / "suites" / "smoke.yaml"
TIME_VARYING = {"wall_seconds", "budget_fraction_time"}


def metrics_of(out):
    (run_dir,) = list((out / "runs").iterdir())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run_dir, rows


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    cache = tmp / "cache"
    first = grainbench("run", str(SMOKE), "--out", str(tmp / "a"), "--cache", str(cache))
    second = grainbench("run", str(SMOKE), "--out", str(tmp / "b"), "--cache", str(cache))
    return tmp, cache, first, second


def test_smoke_suite_writes_a_leaderboard(two_runs):
    tmp, _, first, _ = two_runs
    assert first.returncode == 0, first.stderr
    board = pd.read_csv(tmp / "a" / "leaderboard.csv")
    for col in ["algorithm", "task", "seeds", "budget_limit", "budget_spent", "pass@1", "pass@2", "base_pass@1",
                "delta_pass@1", "generated_tokens", "wall_seconds", "config_hash", "updates_per_batch", "task_version"]:
        assert col in board.columns, col
    assert list(board["algorithm"]) == ["grpo"]
    row = board.iloc[0]
    assert row["delta_pass@1"] == pytest.approx(row["pass@1"] - row["base_pass@1"])
    assert 0 <= row["pass@1"] <= row["pass@2"] <= 1
    assert row["updates_per_batch"] == 2
    assert (tmp / "a" / "leaderboard.md").read_text().startswith("| algorithm")


def test_run_directory_layout(two_runs):
    tmp, *_ = two_runs
    run_dir, rows = metrics_of(tmp / "a")
    assert (run_dir / "DONE").exists() and (run_dir / "config.yaml").exists()
    (ckpt,) = list((run_dir / "checkpoints").iterdir())
    assert ckpt.name == f"step_{len(rows):06d}" and (ckpt / "model.safetensors").exists()
    half = next(r["step"] for r in rows if r["budget_fraction"] >= 0.5)  # eval.every: 0.5
    evals = sorted(p.name for p in (run_dir / "eval").iterdir())
    assert evals == ["step_000000-arith.jsonl", f"step_{half:06d}-arith.jsonl", f"step_{len(rows):06d}-arith.jsonl"]
    curve = json.loads((run_dir / "summary.json").read_text())["curve"]
    assert [p["step"] for p in curve] == [0, half, len(rows)]
    assert curve[1]["budget_fraction"] == rows[half - 1]["budget_fraction"] and rows[half - 2]["budget_fraction"] < 0.5
    records = [json.loads(l) for l in (run_dir / "eval" / evals[-1]).read_text().splitlines()]
    assert len(records) == 16 * 2 and {"completion", "answer", "gold", "correct"} <= set(records[0])
    for key in ["reward", "pass_rate", "loss", "clip_frac", "kl_old", "kl_ref", "entropy", "response_length", "budget_spent"]:
        assert key in rows[0], key


def test_budget_spent_within_one_step_of_the_limit(two_runs):
    tmp, *_ = two_runs
    _, rows = metrics_of(tmp / "a")
    limit = rows[-1]["budget_limit"]
    assert len(rows) >= 3
    last_step_cost = rows[-1]["budget_spent"] - rows[-2]["budget_spent"]
    assert abs(rows[-1]["budget_spent"] - limit) <= last_step_cost / 2 + 1e-6 * limit
    assert rows[-2]["budget_spent"] < limit


def test_second_run_reuses_the_cached_base_and_repeats_the_metrics(two_runs):
    tmp, cache, first, second = two_runs
    assert second.returncode == 0, second.stderr
    assert "warm-starting" in first.stderr and "warm-starting" not in second.stderr
    assert "reusing cached base model" in second.stderr
    assert len(list((cache / "base").iterdir())) == 1
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]
    assert strip(metrics_of(tmp / "a")[1]) == strip(metrics_of(tmp / "b")[1])  # same seed → same metrics


def test_rerun_skips_finished_runs(two_runs, caplog):
    tmp, cache, *_ = two_runs
    with caplog.at_level("INFO"):
        code, err = cli_in_process("run", str(SMOKE), "--out", str(tmp / "a"), "--cache", str(cache))
    assert code == 0 and "finished earlier, skipping" in caplog.text, err
