"""Math benchmark tasks: loaders over the real files, prompts, scoring, `grainbench eval`, suites."""

import json
import random

import pandas as pd
import pytest
from tests.conftest import cli_in_process, grainbench

from harness.core.errors import UserError
from harness.spec.plugins import make_task


@pytest.mark.parametrize("name, split, count", [("gsm8k", "train", 7473), ("gsm8k", "test", 1319), ("math500", "test", 500),
                                                ("math4500", "train", 4500), ("aime24", "test", 30)])
def test_loaders_read_every_record(shared_data, name, split, count):
    from tasks.math.data import load_records

    records = load_records(name, split, str(shared_data / name))
    assert len(records) == count and len({r.id for r in records}) == count
    assert all(r.question and r.answer for r in records)


def test_gsm8k_task_prompts_and_scores(shared_data):
    task = make_task("gsm8k", {"path": str(shared_data / "gsm8k"), "few_shot": 2, "template": "plain"})
    problem = task.eval_problems(1)[0]
    assert problem.answer == "18" and problem.prompt.count("Question:") == 3 and problem.prompt.endswith("Answer:")
    assert "<<" not in problem.prompt  # calculator annotations stripped from the examples
    assert task.score(problem, "16-3-4=9, 9*2=18\n#### 18").correct
    assert task.score(problem, r"So she makes $\boxed{\$18}$.").correct
    # a base model inventing the next few-shot item must not have that item's answer scored
    assert not task.score(problem, "#### 17\n\nQuestion: what is 9+9?\nAnswer: #### 18").correct
    assert len(task.train_problems(5, random.Random(0))) == 5
    (prompt, solution), = task.demonstrations(1, random.Random(0))
    assert prompt.endswith("Answer:") and "####" in solution
    # an eval-only task teaches nothing: its test problems must never reach the warm start
    assert make_task("math500", {"path": str(shared_data / "math500")}).demonstrations(3, random.Random(0)) == []


def test_math_task_scores_latex_answers(shared_data):
    task = make_task("math500", {"path": str(shared_data / "math500")})
    problems = {p.id: p for p in task.eval_problems()}
    polar = problems["test/precalculus/807.json"]
    assert polar.chat and polar.answer == r"\left( 3, \frac{\pi}{2} \right)"
    assert task.score(polar, r"... so the point is $\boxed{(3, \tfrac{\pi}{2})}$.").correct
    assert not task.score(polar, r"$\boxed{(3, \pi)}$").correct


def test_bad_paths_and_splits_are_user_errors(tmp_path, shared_data):
    with pytest.raises(UserError, match="not found"):
        make_task("gsm8k", {"path": str(tmp_path / "missing")})
    bad = tmp_path / "test.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 1"}\nnot json\n')
    with pytest.raises(UserError, match=r"test.jsonl:2 is not valid JSON"):
        make_task("gsm8k", {"path": str(tmp_path), "train_split": "test"})
    with pytest.raises(UserError, match="no split 'train'"):
        make_task("math500", {"path": str(shared_data / "math500"), "eval_split": "train"})


def test_eval_command_on_the_embedded_base(tmp_path, shared_data):
    from harness.spec.config import EmbeddedModel
    from harness.training.embedded import build_model, build_tokenizer, save_checkpoint

    tok = build_tokenizer()
    model = build_model(EmbeddedModel(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tok, 0)
    save_checkpoint(model, tok, tmp_path / "base")
    out = tmp_path / "eval"
    r = grainbench("eval", "--model", str(tmp_path / "base"), "--task", "gsm8k", "--n", "2", "--k", "1,2", "--limit", "3",
                   "--max-new-tokens", "8", "--option", f"path={shared_data / 'gsm8k'}", "--out", str(out))
    assert r.returncode == 0, r.stderr
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and {s["problem_id"] for s in samples} == {"gsm8k-0", "gsm8k-1", "gsm8k-2"}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1 and {"pass@1", "pass@2", "maj@2", "task_version", "model"} <= set(summary.columns)
    assert summary.loc[0, "pass@1"] == pytest.approx(sum(s["correct"] for s in samples) / 6)
    code, err = cli_in_process("eval", "--model", str(tmp_path / "base"), "--task", "gsm8k", "--n", "2",
                               "--k", "4")
    assert code == 2 and "--k" in err


def test_a_suite_trains_on_gsm8k_and_evaluates_on_math500(tmp_path, shared_data):
    suite = {
        "name": "mathsmoke",
        "model": {"embedded": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1},
                  "warm_start": {"steps": 2, "batch_size": 4}},
        "tasks": {"train": "gsm8k", "eval": ["gsm8k", "math500"],
                  "options": {"gsm8k": {"path": str(shared_data / "gsm8k")}, "math500": {"path": str(shared_data / "math500")}}},
        "algorithms": {"grpo": {}}, "seeds": [0], "budget": {"flops": 2e9},
        "rollout": {"prompts_per_step": 2, "samples_per_prompt": 2, "max_new_tokens": 8},
        "eval": {"n": 1, "k": [1], "limit": 2},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps(suite))
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert set(board["task"]) == {"gsm8k", "math500", "overall"}  # overall: the mean over the two


@pytest.mark.parametrize("name", ["gsm8k", "math4500"])
def test_validation_split_is_held_out_of_train_and_disjoint_from_eval(shared_data, name):
    task = make_task(name, {"path": str(shared_data / name)})
    validation = {p.id for p in task.validation_problems()}
    train = {p.id for p in task.train_problems(3000, random.Random(0))}
    assert 0.08 < len(validation) / len(task._records("train")) < 0.12  # about a tenth of the train split
    assert not validation & train
    assert {p.id for p in task.validation_problems()} == validation  # fixed
    if task.eval_split:  # ids number each split's rows: compare the problems themselves
        assert not {p.prompt for p in task.validation_problems()} & {p.prompt for p in task.eval_problems()}
    with pytest.raises(ValueError, match="no train split"):
        make_task("math500", {"path": str(shared_data / "math500")}).validation_problems()
