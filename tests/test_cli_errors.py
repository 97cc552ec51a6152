"""Bad input: one clear message naming the problem, exit code 2, nothing written."""

from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_in_process, cli_output_in_process, grainbench

GOOD = (ROOT / "suites" / "smoke.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, expected", [
    ("tasks: [arith\nalgorithms: {grpo: {}", "malformed YAML"),
    (GOOD.replace("grpo: {}", "grpoo: {}"), "unknown algorithm 'grpoo'"),
    (GOOD.replace("train: arith", "train: arithmetic"), "unknown task 'arithmetic'"),
    (GOOD.replace("flops: 2.0e9", "flops: 0"), "budget.flops"),
    (GOOD.replace("flops: 2.0e9", "flops: -1"), "budget.flops"),
    (GOOD.replace("grpo: {}", "grpo: {clip_eps: 0.1}"), "no parameter 'clip_eps'"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    (GOOD + "\nlearning_rate: 0.1\n", "unknown field 'learning_rate'; valid: name, model, tasks"),
    (GOOD.replace("grpo: {}", "mpo: {k: []}"), "mpo.k: a sweep needs at least one value"),
    (GOOD.replace("grpo: {}", "mpo: {k: [2, 2]}"), "mpo.k: sweep [2, 2] repeats a value"),
    (GOOD.replace("grpo: {}", "mpo: {k: [2, banana]}"), "algorithm 'mpo': k: Input should be a valid integer"),
    (GOOD.replace("seeds: [0]", "seeds: []"), "seeds: give at least one seed"),
    (GOOD.replace("flops: 2.0e9", "gpu_hours: 3"), "budget: unknown field 'gpu_hours'; valid: flops, tokens, seconds"),
    (GOOD.replace("k: [1, 2]", "k: [1, 4]"), "eval: eval.k values [4] must lie in 1..n (n = 2)"),
    (GOOD.replace("every: 0.5", "every: 1.5"), "eval.every"),
    (GOOD + "\nexecutor: {kind: slurm}\n", "executor.kind"),
    (GOOD + "\nengine: {name: hf, cache: static}\n", "engine 'hf' has no option 'cache'; valid: batch_size, decode"),
    (GOOD + "\nengine: {name: hf, decode: fast}\n", "engine 'hf': decode: Input should be 'dynamic', 'static' or 'compiled'"),
    (GOOD + "\nengine: {name: hf, batch_size: '8'}\n", "engine 'hf': batch_size: Input should be a valid integer"),
    (GOOD.replace("kl_coef: 0.04", "kl_coef: 0.04, trust_region: loose"), "train.trust_region: Input should be 'scaled', 'matched' or 'paper'"),
    (GOOD + "\ntune: {grid: {learning_rate: [1.0e-3, 3.0e-3]}}\n", "tune.grid.learning_rate: neither a train field"),
    (GOOD + "\ntune: {grid: {lr: [1.0e-3, -1]}}\n", "tune.grid.lr: -1: Input should be greater than 0"),
    (GOOD + "\ntune: {grid: {lr: [1.0e-3]}, criterion: best}\n", "tune.criterion: Input should be 'auc_pass@1' or 'pass@1'"),
    (GOOD + "\nbaseline: ppo\n", "baseline 'ppo' is not a row of this suite; rows: grpo"),
    (GOOD.replace("grpo: {}", "grpo_kl: {algorithm: [grpo, gspo]}"), "grpo_kl.algorithm: name one registered algorithm"),
])
@pytest.mark.parametrize("verb", ["validate", "run"])
def test_bad_suite_exits_2_with_one_clear_message(tmp_path, text, expected, verb):
    suite = write(tmp_path, text)
    args = [verb, str(suite)] + (["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")] if verb == "run" else [])
    code, stderr = cli_in_process(*args)
    assert code == 2, stderr
    assert expected in stderr and stderr.count("error:") == 1
    assert "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_suite_exits_2_from_a_real_process(tmp_path):
    r = grainbench("run", str(write(tmp_path, GOOD + "\nlearning_rate: 0.1\n")), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "unknown field 'learning_rate'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_missing_suite_file(tmp_path):
    code, err = cli_in_process("validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "not found" in err


def test_output_dir_that_is_a_file(tmp_path):
    suite = write(tmp_path, GOOD)
    out = tmp_path / "taken"
    out.write_text("precious")
    code, err = cli_in_process("run", str(suite), "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert code == 2 and "is a file" in err
    assert out.read_text() == "precious"


@pytest.mark.parametrize("name", ["smoke", "quick", "horizon", "literature"])
def test_validate_accepts_the_shipped_suites(name):
    code, out, err = cli_output_in_process("validate", str(ROOT / "suites" / f"{name}.yaml"))
    assert code == 0, err
    assert "ok" in out


@pytest.mark.parametrize("model", ["runs/step_000010", "results/quick/runs/x/checkpoints/step_000010", "./nope", "nope/"])
def test_a_mistyped_local_model_path_fails_at_once(tmp_path, monkeypatch, model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()  # "runs/…" names a folder here, so it is a path, not a hub id
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    code, err = cli_in_process("eval", "--model", model, "--task", "arith", "--n", "1")
    assert code == 2 and f"model directory {model} not found" in err and err.count("error:") == 1


def test_input_mistakes_a_new_user_made(tmp_path, caplog):
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text(GOOD + "\ntrain:\n\tlr: 0.1\n")
    code, err = cli_in_process("validate", str(tabbed))
    assert code == 2 and str(tabbed) in err and "line" in err and "tabs" in err and "<unicode string>" not in err
    code, err = cli_in_process("validate", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, err = cli_in_process("run", str(write(tmp_path, GOOD)), "--seeds", "", "--out", str(tmp_path / "o"))
    assert code == 2 and "--seeds" in err and not (tmp_path / "o").exists()
    code, _ = cli_in_process("--version")
    assert code == 0


def test_a_budget_below_one_step_says_so(tmp_path, caplog):
    suite = write(tmp_path, GOOD.replace("flops: 2.0e9", "flops: 1"))
    assert "flops: 1\n" in suite.read_text() or "flops: 1}" in suite.read_text()
    code, err = cli_in_process("run", str(suite), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c"))
    assert code == 0, err
    assert any("below the cost of one step" in r.getMessage() for r in caplog.records)


def test_steps_go_to_the_runs_log_and_not_between_the_progress_bars(tmp_path, capsys):
    import logging

    from harness.core.logs import STEPS
    from harness.suites.progress import SuiteProgress

    code, err = cli_in_process("run", str(write(tmp_path, GOOD)), "--out", str(tmp_path / "o"),
                               "--cache", str(tmp_path / "c"))
    assert code == 0, err
    (run_log,) = (tmp_path / "o" / "runs").glob("*/run.log")
    assert "step 1 reward" in run_log.read_text()
    with SuiteProgress(1, enabled=True):
        logging.getLogger(STEPS).warning("step 7 reward 0.5")
        logging.getLogger("harness.suites.suite").warning("evaluation at 50%")
    shown = capsys.readouterr().err
    assert "evaluation at 50%" in shown and "step 7 reward" not in shown


def test_tasks_are_described_in_words(monkeypatch):
    code, out, err = cli_output_in_process("tasks")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) >= 10 and not any("(no description)" in line or "=" in line.split(":", 1)[1][:40] for line in lines)
