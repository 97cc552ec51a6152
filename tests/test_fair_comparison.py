"""The fair-comparison protocol end to end through the CLI: common random numbers, the regime columns
of every row, equal tuning on a validation split."""

import json

import pandas as pd
import pytest
import yaml

from tasks.arith import Arith
from tests.conftest import ROOT, cli_in_process


def suite_file(tmp_path, **changes):
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite.update(changes)
    path = tmp_path / f"{suite['name']}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def metrics(out, prefix):
    (run,) = [r for r in (out / "runs").iterdir() if r.name.startswith(prefix + "-")]
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()], run


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crn")
    path = suite_file(tmp, name="crn", seeds=[0, 1], baseline="grpo", budget={"flops": 4.0e9},
                      algorithms={"grpo": {}, "gspo": {}, "dapo": {}, "spo_segment": {"mc_samples": 2},
                                  "grpo_kl": {"algorithm": "grpo", "kl_coef": 0.04}},
                      train={"lr": 1.0e-3, "updates_per_batch": 2})
    return tmp / "out", path, tmp


def run(path, out, cache):
    code, err = cli_in_process("run", str(path), "--out", str(out), "--cache", str(cache))
    assert code == 0, err


def test_common_random_numbers_and_regime_columns(family):
    out, path, tmp = family
    run(path, out, tmp / "cache")
    prompts, base = {}, {}
    for label in ("grpo", "gspo", "dapo", "spo_segment", "grpo_kl"):
        for seed in (0, 1):
            rows, run_dir = metrics(out, f"{label}-arith-{seed}")
            prompts[label, seed] = [r["prompts"] for r in rows]
            # the same eval seeds for every row: one base evaluation per seed
            base.setdefault(seed, set()).add((run_dir / "eval" / "step_000000-arith.jsonl").read_text())
    assert [len(texts) for texts in base.values()] == [1, 1]
    for seed in (0, 1):
        n = min(len(prompts[label, seed]) for label in ("grpo", "gspo", "dapo", "spo_segment", "grpo_kl"))
        assert n >= 3
        # every algorithm — DAPO refilling, SPO drawing Monte-Carlo continuations — sees the same prompts step for step
        for label in ("gspo", "dapo", "spo_segment", "grpo_kl"):
            assert prompts[label, seed][:n] == prompts["grpo", seed][:n], label
    assert prompts["grpo", 0][:3] != prompts["grpo", 1][:3]  # and another seed sees others

    board = pd.read_csv(out / "leaderboard.csv")
    for col in ("steps", "updates", "clip_frac", "kl_old", "trained_tokens", "monte_carlo_share", "trust_region", "kl_coef"):
        assert col in board.columns, col
    row = board.set_index("algorithm")
    assert row.loc["grpo", "kl_coef"] == 0 and row.loc["grpo_kl", "kl_coef"] == 0.04  # the suite's KL, and a labelled one
    assert row.loc["grpo", "updates"] == 2 * row.loc["grpo", "steps"]
    assert row.loc["spo_segment", "monte_carlo_share"] > 0.2 and row.loc["grpo", "monte_carlo_share"] == 0
    assert set(row["trust_region"]) == {"scaled"}
    spent = row["budget_spent"] / row["budget_limit"]
    assert spent.max() - spent.min() < 0.25  # within one step at this micro budget (the quick suite: see README)
    comparisons = pd.read_csv(out / "comparisons.csv")  # the suite names a baseline
    assert set(comparisons["algorithm"]) == {"gspo", "dapo", "spo_segment", "grpo_kl"}
    assert set(comparisons["seeds"]) == {2}


def test_leaderboard_is_built_from_this_suites_runs_only(family):
    out, path, tmp = family
    run(path, out, tmp / "cache")  # the family's runs (finished already in a full session)
    edited = suite_file(tmp, name="crn", seeds=[0, 1], budget={"flops": 4.0e9}, algorithms={"grpo": {}},
                        train={"lr": 1.0e-3, "updates_per_batch": 2})
    run(edited, out, tmp / "cache")
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board["algorithm"]) == ["grpo"]  # the other rows' runs stay on disk, out of this leaderboard
    assert len(list((out / "runs").glob("*/DONE"))) == 10
    # rebuilt, compared and published later: still this suite's runs only
    code, err = cli_in_process("leaderboard", str(out))
    assert code == 0 and list(pd.read_csv(out / "leaderboard.csv")["algorithm"]) == ["grpo"], err
    code, err = cli_in_process("compare", str(out), "--baseline", "grpo")
    compared = set(pd.read_csv(out / "comparisons.csv")["algorithm"]) if (out / "comparisons.csv").stat().st_size > 1 else set()
    assert code == 0 and not compared - {"grpo"}, err  # the old rows are not there to compare with
    code, err = cli_in_process("publish", str(out), "--to", str(tmp / "published"))
    manifest = json.loads((tmp / "published" / "manifest.json").read_text())
    assert code == 0 and {r["algorithm"] for r in manifest["runs"]} == {"grpo"}, err


def test_tuning_chooses_on_the_validation_split_with_equal_trials(tmp_path, caplog):
    path = suite_file(tmp_path, name="tuned", budget={"flops": 1.0e9}, algorithms={"grpo": {}, "token_pg": {}},
                      tune={"grid": {"lr": [3.0e-4, 3.0e-3]}, "criterion": "pass@1"},
                      eval={"n": 2, "k": [1, 2]}, train={"updates_per_batch": 2})
    out = tmp_path / "out"
    run(path, out, tmp_path / "cache")
    trials = pd.read_csv(out / "tuning.csv")
    assert sorted(trials["algorithm"].value_counts().items()) == [("grpo", 2), ("token_pg", 2)]  # the same trials each
    validation = {p.id for p in Arith(max_start=20, max_operand=9, eval_size=16).validation_problems()}
    evals = {p.id for p in Arith(max_start=20, max_operand=9, eval_size=16).eval_problems()}
    for run_id in trials["run_id"]:
        files = sorted((out / "tune" / "runs" / run_id / "eval").iterdir())
        scored = {json.loads(line)["problem_id"] for line in files[-1].read_text().splitlines()}
        assert scored == validation and not scored & evals  # trials never see the eval split
    board = pd.read_csv(out / "leaderboard.csv").set_index("algorithm")
    for label in ("grpo", "token_pg"):
        block = trials[trials["algorithm"] == label]
        best = block.loc[block["value"].idxmax(), "values"]  # ties: the first grid point
        assert board.loc[label, "tuned"] == best and board.loc[label, "tuning_trials"] == 2
        assert board.loc[label, "tuning_budget"] == pytest.approx(block["budget_spent"].sum(), rel=1e-5)
        (final,) = [r for r in (out / "runs").iterdir() if r.name.startswith(label + "-")]
        assert yaml.safe_load((final / "config.yaml").read_text())["train"]["lr"] == json.loads(best)["lr"]
    # tuning runs resume and skip like any run
    caplog.set_level("INFO")
    run(path, out, tmp_path / "cache")
    assert caplog.text.count("finished earlier, skipping") == 6


def test_a_seconds_budget_starts_when_training_does(tmp_path, monkeypatch):
    """Only a seed's first run pays for the base evaluation (the others reuse it); made slow here,
    it must not come out of that run's training time."""
    import time

    from harness.suites import run as run_module

    real = run_module.run_eval

    def slow_eval(*args, **kwargs):
        time.sleep(3.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_eval", slow_eval)
    path = suite_file(tmp_path, name="clock", budget={"seconds": 2.0}, eval={"n": 1, "k": [1], "every": None},
                      algorithms={"grpo": {}, "grpo_again": {"algorithm": "grpo"}})
    run(path, tmp_path / "out", tmp_path / "cache")
    (first, _), (second, _) = metrics(tmp_path / "out", "grpo"), metrics(tmp_path / "out", "grpo_again")
    assert first[0]["budget_spent"] < 1.5  # the 3 s base evaluation is not in the first step's time
    assert len(first) >= 2 and len(second) >= 2  # (how many more, a loaded machine decides)


def test_the_base_eval_cache_is_keyed_on_the_scorer(tmp_path):
    from harness.engines.hf import HFEngine
    from harness.spec.config import load_suite, runs_of
    from harness.suites.run import evaluate_cached
    from harness.training.embedded import build_model, build_tokenizer

    suite = load_suite(suite_file(tmp_path, name="key"))
    spec = runs_of(suite)[0]
    tok = build_tokenizer()
    model = build_model(suite.model.embedded, tok, 0)
    engine, cache = HFEngine(model, tok), tmp_path / "cache"
    (tmp_path / "run" / "eval").mkdir(parents=True)

    def cached(task):
        evaluate_cached(engine, tok, task, spec, tmp_path / "base", cache, tmp_path / "run")
        return len(list(cache.glob("*.json")))

    assert cached(Arith(max_start=20, max_operand=9, eval_size=4)) == 1
    assert cached(Arith(max_start=20, max_operand=9, eval_size=4)) == 1  # reused
    rescored = type("Rescored", (Arith,), {"scorer": "math-answer-next"})  # the same task under a new scorer
    assert cached(rescored(max_start=20, max_operand=9, eval_size=4)) == 2


def test_a_behaviour_change_is_a_new_run_not_a_finished_one(tmp_path, monkeypatch):
    from algorithms.grpo import GRPO

    path = suite_file(tmp_path, name="versions", budget={"flops": 1.0e9}, eval={"n": 1, "k": [1], "every": None})
    run(path, tmp_path / "out", tmp_path / "cache")
    monkeypatch.setattr(GRPO, "version", GRPO.version + "-changed")  # the plugin guide: a behaviour change bumps it
    run(path, tmp_path / "out", tmp_path / "cache")
    finished = sorted(d.name for d in (tmp_path / "out" / "runs").iterdir())
    assert len(finished) == 2 and finished[0].rsplit("-", 1)[0] == finished[1].rsplit("-", 1)[0]
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert list(board["algorithm_version"].astype(str)) == [GRPO.version]  # the new code's row only


def test_eval_of_a_runs_checkpoint_scores_as_the_run_did(tmp_path, monkeypatch):
    path = suite_file(tmp_path, name="evalrun", budget={"flops": 1.0e9}, eval={"n": 2, "k": [1, 2], "every": None})
    run(path, tmp_path / "out", tmp_path / "cache")
    (_, run_dir), = [metrics(tmp_path / "out", "grpo")]
    final = json.loads((run_dir / "summary.json").read_text())["eval"]["arith"]
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process("eval", "--run", str(run_dir), "--task", "arith")
    assert code == 0, err
    (written,) = list((tmp_path / "results" / "eval").iterdir())
    assert "checkpoints__step_" in written.name  # named after the whole checkpoint path, not its last folder
    summary = json.loads((written / "summary.json").read_text())
    assert (summary["n"], summary["pass@1"], summary["pass@2"]) == (2, final["pass@1"], final["pass@2"])
    code, err = cli_in_process("eval", "--run", str(run_dir), "--task", "arith")
    assert code == 2 and "--force" in err  # an earlier evaluation is never overwritten silently


def test_runs_are_mirrored_into_tensorboard_and_mlflow(tmp_path, caplog):
    pytest.importorskip("tensorboard", reason="pip install tensorboard")
    pytest.importorskip("mlflow", reason="pip install mlflow-skinny")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = suite_file(tmp_path, name="watched", budget={"flops": 1.0e9}, eval={"n": 1, "k": [1], "every": 0.5},
                      report_to=["tensorboard", "mlflow"])
    out = tmp_path / "out"
    code, err = cli_in_process("run", str(path), "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    rows, run_dir = metrics(out, "grpo")
    events = EventAccumulator(str(out / "tensorboard" / run_dir.name))
    events.Reload()
    rewards = events.Scalars("train/reward")
    assert [e.value for e in rewards] == pytest.approx([r["reward"] for r in rows])
    assert [e.step for e in rewards] == [int(r["budget_spent"]) for r in rows]  # the x-axis is FLOPs spent
    assert len(events.Scalars("eval/arith/pass@1")) == 3  # base, the midpoint, final
    client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "watched"]
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {run_dir.name, "leaderboard"}
    history = client.get_metric_history(runs[run_dir.name].info.run_id, "train/reward")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx([r["reward"] for r in rows])
    assert runs[run_dir.name].data.tags["config_hash"] == run_dir.name.rsplit("-", 1)[1]


def test_a_missing_tracker_is_one_warning_and_an_unknown_one_an_error(tmp_path, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def without_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_wandb)
    path = suite_file(tmp_path, name="unwatched", budget={"flops": 5.0e8}, eval={"n": 1, "k": [1], "every": None})
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "out"),
                               "--cache", str(tmp_path / "cache"), "--report-to", "wandb")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if "report_to wandb" in r.getMessage()]
    assert len(warnings) == 2  # the run's tracker, the leaderboard's: each once, and the runs went on
    assert (tmp_path / "out" / "leaderboard.csv").exists()
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "o2"), "--report-to", "neptune")
    assert code == 2 and "report_to" in err and not (tmp_path / "o2").exists()


def test_runs_are_mirrored_into_trackio(tmp_path, monkeypatch):
    import os
    import time

    pytest.importorskip("trackio", reason="pip install trackio")
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    import trackio

    project = f"watched_{os.getpid()}_{time.time_ns()}"  # trackio's store may outlive this test and be shared
    path = suite_file(tmp_path, name=project, budget={"flops": 5.0e8}, eval={"n": 1, "k": [1], "every": None},
                      report_to=["trackio"])
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    rows, run_dir = metrics(tmp_path / "out", "grpo")
    logged = [r for r in trackio.SQLiteStorage.get_logs(project, run_dir.name) if "train/reward" in r]
    assert [r["train/reward"] for r in logged] == pytest.approx([r["reward"] for r in rows])
    assert [r["step"] for r in logged] == [int(r["budget_spent"]) for r in rows]
