"""Leaderboard statistics, curves and publishing, from run files with known numbers."""

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.results import leaderboard, statistics
from harness.results.publish import publish
from tests.conftest import cli_in_process, grainbench

T_975_DF2 = 4.302652729911275  # Student's t quantile for three seeds


def write_run(results, label, seed, finals, base=(0.2, 0.5), limit=100.0):
    """A finished run whose arith/code pass@1 rise linearly from `base` to `finals` over 4 evals."""
    run_id = f"{label}-arith-{seed}-cfg{label}"
    fractions = [0.0, 0.25, 0.5, 0.75, 1.0]
    curve = []
    for f in fractions:
        scores = {}
        for task, b, final in zip(["arith", "code"], base, finals):
            p = b + (final - b) * f
            scores[task] = {"task": task, "task_version": "2", "scorer_version": "s-1", "pass@1": p, "pass@4": min(1, p + 0.2),
                            "maj@4": p if task == "arith" else float("nan"), "mean_length": 10.0 + seed}
        curve.append({"step": int(f * 20), "budget_spent": f * limit, "budget_fraction": f, "eval": scores})
    summary = {"run_id": run_id, "label": label, "algorithm_name": label, "algorithm_version": "1", "train_task": "arith",
               "seed": seed, "config_hash": f"cfg{label}", "updates_per_batch": 4, "engine": "hf", "steps": 20,
               "budget_unit": "flops", "budget_limit": limit, "budget_spent": limit, "budget_fraction": 1.0, "flops": limit,
               "generated_tokens": 1000 + seed, "wall_seconds": 5.0, "train_seconds": 4.0, "gpu_seconds": 0.0,
               "git_commit": "abc123", "base_eval": curve[0]["eval"], "eval": curve[-1]["eval"], "curve": curve}
    run_dir = results / "runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "reward": 0.2 + 0.01 * s + 0.01 * seed, "budget_spent": s * limit / 20}) + "\n" for s in range(1, 21)))
    (run_dir / "DONE").write_text("")
    return run_dir


@pytest.fixture
def results(tmp_path):
    out = tmp_path / "results"
    for seed, finals in enumerate([(0.4, 0.5), (0.5, 0.6), (0.6, 0.4)]):
        write_run(out, "grpo", seed, finals)
    for seed, finals in enumerate([(0.3, 0.5), (0.3, 0.5), (0.3, 0.5)]):
        write_run(out, "gspo", seed, finals)
    (out / "suite.yaml").write_text("name: test\n")
    return out


def row(table, algorithm, task):
    return table[(table["algorithm"] == algorithm) & (table["task"] == task)].iloc[0]


def test_mean_and_t_interval_over_seeds(results):
    table = leaderboard.build(results)
    grpo = row(table, "grpo", "arith")
    assert grpo["pass@1"] == pytest.approx(0.5)
    assert grpo["pass@1_ci95"] == pytest.approx(T_975_DF2 * 0.1 / math.sqrt(3))  # sd of .4 .5 .6 is .1
    assert grpo["delta_pass@1"] == pytest.approx(0.3) and grpo["base_pass@1_ci95"] == pytest.approx(0.0)
    assert grpo["seeds"] == "0 1 2" and grpo["n_seeds"] == 3
    assert row(table, "gspo", "arith")["pass@1_ci95"] == pytest.approx(0.0)
    assert grpo["generated_tokens"] == pytest.approx(1001)


def test_overall_averages_tasks_but_not_a_vote_that_one_task_lacks(results):
    table = leaderboard.build(results)
    overall, arith = row(table, "grpo", "overall"), row(table, "grpo", "arith")
    assert overall["pass@1"] == pytest.approx((0.5 + 0.5) / 2)
    assert arith["maj@4"] == pytest.approx(0.5) and math.isnan(row(table, "grpo", "code")["maj@4"])
    assert math.isnan(overall["maj@4"])  # code has no maj@n, so the pooled one would be arith's alone


def test_single_seed_has_no_interval(tmp_path):
    write_run(tmp_path, "grpo", 0, (0.4, 0.5))
    table = leaderboard.build(tmp_path)
    assert np.isnan(row(table, "grpo", "arith")["pass@1_ci95"])
    assert "±" not in leaderboard.to_markdown(table).split("\n")[2]


def test_overall_is_the_mean_over_eval_tasks_per_run(results):
    table = leaderboard.build(results)
    overall = row(table, "grpo", "overall")
    assert overall["pass@1"] == pytest.approx(np.mean([(0.4 + 0.5) / 2, (0.5 + 0.6) / 2, (0.6 + 0.4) / 2]))
    per_run = np.array([0.45, 0.55, 0.5])
    assert overall["pass@1_ci95"] == pytest.approx(T_975_DF2 * per_run.std(ddof=1) / math.sqrt(3))
    assert list(table["task"]).index("overall") == len(table) - 2  # overall rows come last


def test_area_under_the_eval_curve(results):
    table = leaderboard.build(results)
    # a straight line from base to final: the area is their mean
    assert row(table, "grpo", "arith")["auc_pass@1"] == pytest.approx((0.2 + 0.5) / 2)
    assert row(table, "gspo", "code")["auc_pass@1"] == pytest.approx((0.5 + 0.5) / 2)
    curve = [{"budget_fraction": 0.0, "eval": {"t": {"pass@1": 0.0}}}, {"budget_fraction": 0.5, "eval": {"t": {"pass@1": 1.0}}},
             {"budget_fraction": 1.0, "eval": {"t": {"pass@1": 1.0}}}]
    assert statistics.area_under_curve(curve, "t") == pytest.approx(0.75)


def test_unfinished_runs_are_left_out(results):
    (results / "runs" / "grpo-arith-2-cfggrpo" / "DONE").unlink()
    assert row(leaderboard.build(results), "grpo", "arith")["seeds"] == "0 1"


def test_write_produces_csv_markdown_and_curves(results):
    table = leaderboard.write(results)
    assert pd.read_csv(results / "leaderboard.csv").shape == table.shape
    md = (results / "leaderboard.md").read_text()
    assert "| grpo | arith | 0 1 2 | 0.500 ± 0.248 |" in md
    png = (results / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_publish_writes_files_and_a_manifest(results, tmp_path):
    to = tmp_path / "published"
    publish(results, to)
    assert sorted(p.name for p in to.iterdir()) == ["curves.png", "leaderboard.csv", "leaderboard.md", "manifest.json", "suite.yaml"]
    manifest = json.loads((to / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((to / name).read_bytes()).hexdigest() == digest
    assert manifest["suite_sha256"] == hashlib.sha256(b"name: test\n").hexdigest()
    assert len(manifest["runs"]) == 6 and {r["config_hash"] for r in manifest["runs"]} == {"cfggrpo", "cfggspo"}
    assert manifest["git_commits"] == ["abc123"]
    assert "torch" in manifest["publisher"]["packages"] and manifest["publisher"]["hardware"]["cpus"] >= 1


def test_cli_leaderboard_and_publish_errors(results, tmp_path):
    ok = grainbench("leaderboard", str(results))  # a real process once
    assert ok.returncode == 0 and (results / "curves.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["leaderboard", str(empty)], ["publish", str(empty), "--to", str(tmp_path / "x")],
                 ["publish", str(results), "--to", str(results / "suite.yaml")]):
        code, err = cli_in_process(*args)
        assert code == 2 and err.startswith("error:"), (args, err)
    assert (results / "suite.yaml").read_text() == "name: test\n"


def test_curves_draw_one_line_per_configuration_not_per_label(results):
    from harness.results.curves import _groups, plot_curves

    summaries = leaderboard.summaries(results)
    other = [dict(s, config_hash="cfgother", run_id=s["run_id"]) for s in summaries if s["label"] == "grpo"][:2]
    groups = _groups(summaries + other)
    assert sorted(groups) == ["grpo @cfggrp", "grpo @cfgoth", "gspo"]
    assert [len(groups[k]) for k in sorted(groups)] == [3, 2, 3]  # never "grpo over 5 seeds"
    plot_curves(summaries + other, results, results / "mixed.png")
    assert (results / "mixed.png").read_bytes()[:4] == b"\x89PNG"
