"""Every registered algorithm trains from the embedded base on arith through the CLI:
no NaN, and the shared budget stops each within one step of the limit."""

import json
import math

import pandas as pd
import pytest
import yaml

from harness.spec.plugins import ALGORITHMS
from tests.conftest import ROOT, cli_in_process


@pytest.fixture(scope="module")
def all_algorithms_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("family")
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["name"] = "family"
    suite["algorithms"] = {name: {} for name in ALGORITHMS.names()}
    suite["algorithms"]["mpo"] = {"k": [2, 8]}
    suite["budget"] = {"flops": 1.0e9}
    (tmp / "family.yaml").write_text(yaml.safe_dump(suite))
    code, err = cli_in_process("run", str(tmp / "family.yaml"), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"))
    return tmp / "out", (code, err)


def test_every_algorithm_has_a_leaderboard_row(all_algorithms_run):
    out, (code, err) = all_algorithms_run
    assert code == 0, err[-3000:]
    board = pd.read_csv(out / "leaderboard.csv")
    expected = sorted(set(ALGORITHMS.names()) - {"mpo"} | {"mpo_k2", "mpo_k8"})
    assert sorted(board["algorithm"]) == expected
    on_policy = {name for name in ALGORITHMS.names() if ALGORITHMS.get(name).on_policy_only}
    assert {"token_pg", "gpg"} <= on_policy  # REINFORCE-style: one update per rollout batch
    updates = dict(zip(board["algorithm"], board["updates_per_batch"]))
    assert {name: n for name, n in updates.items() if name in on_policy} == dict.fromkeys(on_policy, 1)
    assert set(n for name, n in updates.items() if name not in on_policy) == {2}


def test_no_nan_and_budget_within_one_step(all_algorithms_run):
    out, _ = all_algorithms_run
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == len(ALGORITHMS.names()) + 1
    for run in runs:
        rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
        assert all(math.isfinite(r["loss"]) for r in rows), run.name
        assert any(r["updates"] > 0 for r in rows), run.name
        limit = rows[-1]["budget_limit"]
        step_cost = rows[-1]["budget_spent"] - (rows[-2]["budget_spent"] if len(rows) > 1 else 0)
        assert abs(rows[-1]["budget_spent"] - limit) <= step_cost, run.name
        assert len(rows) == 1 or rows[-2]["budget_spent"] < limit, run.name


def test_spo_pays_for_its_monte_carlo_rollouts(all_algorithms_run):
    out, _ = all_algorithms_run
    per_step = {}
    for name in ("grpo", "spo_segment"):
        (run,) = [r for r in (out / "runs").iterdir() if r.name.startswith(f"{name}-")]
        rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
        per_step[name] = rows[0]["generated_tokens"]
    assert per_step["spo_segment"] > 1.5 * per_step["grpo"]
