"""Custom tasks from a data file and a TRL-style reward function named by dotted path."""

import json
import random

import pandas as pd
import pytest
import yaml

from tasks.reward import RewardFunctionTask
from tests.conftest import ROOT, cli_in_process

REWARDS = '''
def contains_answer(prompts, completions, answer, **kwargs):
    return [1.0 if a in c else 0.0 for c, a in zip(completions, answer)]

def row_number(prompts, completions, row, **kwargs):
    return [float(r) for r in row]

def none_for_all(prompts, completions, **kwargs):
    return [None for _ in completions]

def one_short(prompts, completions, **kwargs):
    return [0.0] * (len(completions) - 1)

def not_a_number(prompts, completions, **kwargs):
    return [float("nan")] * len(completions)

def no_kwargs(prompts, completions):
    return [0.0] * len(completions)
'''


@pytest.fixture
def files(tmp_path):
    rewards = tmp_path / "rewards.py"
    rewards.write_text(REWARDS)
    data = tmp_path / "echo.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Say {i}:", "answer": str(i), "row": i}) + "\n" for i in range(60)))
    return rewards, data


def make(files, function="contains_answer", **kw):
    rewards, data = files
    return RewardFunctionTask(name="echo", reward=f"{rewards}:{function}", data=str(data), eval_fraction=0.25, **kw)


def test_splits_are_disjoint_stable_and_cover_the_file(files):
    task, again = make(files), make(files)
    train = {p.id for p in task._train}
    evals = {p.id for p in task.eval_problems()}
    validation = {p.id for p in task.validation_problems()}
    assert train.isdisjoint(evals) and train.isdisjoint(validation) and evals.isdisjoint(validation)
    assert len(train) + len(evals) + len(validation) == 60
    assert 5 <= len(evals) <= 30  # about a quarter
    assert [p.id for p in again.eval_problems()] == [p.id for p in task.eval_problems()]
    assert {p.id for p in task.train_problems(200, random.Random(0))} <= train
    assert task.version.startswith("reward-2-") and task.scorer.endswith(":contains_answer")


def test_columns_reach_the_function_aligned_with_each_completion(files):
    task = make(files, "row_number")
    problems = task.train_problems(40, random.Random(1))
    scores = task.score_many(problems, ["x"] * len(problems))
    assert [s.reward for s in scores] == [float(p.prompt.split()[1].rstrip(":")) for p in problems]


def test_reward_threshold_decides_correct(files):
    task = make(files)
    p = task.eval_problems()[0]
    right, wrong = task.score_many([p, p], [f"it is {p.answer}", "no idea"])
    assert (right.reward, right.correct, wrong.reward, wrong.correct) == (1.0, True, 0.0, False)
    strict = make(files, correct_at=2.0)
    assert not strict.score(p, f"it is {p.answer}").correct


def test_none_counts_as_zero(files):
    task = make(files, "none_for_all")
    assert [s.reward for s in task.score_many(task.eval_problems()[:3], ["a", "b", "c"])] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("function, message", [
    ("one_short", "returned 2 values for 3 completions"),
    ("not_a_number", "rewards must be finite numbers"),
    ("no_kwargs", r"must accept prompts=, completions= and \*\*kwargs"),
])
def test_bad_reward_functions_are_named(files, function, message):
    task = make(files, function)
    with pytest.raises(ValueError, match=message):
        task.score_many(task.eval_problems()[:3], ["a", "b", "c"])


def test_bad_specs_fail_at_construction(files, tmp_path):
    rewards, data = files
    with pytest.raises(ValueError, match="has no function 'nope'"):
        RewardFunctionTask(name="echo", reward=f"{rewards}:nope", data=str(data))
    with pytest.raises(ValueError, match="cannot import 'no_such_module_here'"):
        RewardFunctionTask(name="echo", reward="no_such_module_here:f", data=str(data))
    with pytest.raises(ValueError, match="no text column 'question'"):
        make(files, prompt_column="question")
    with pytest.raises(ValueError, match="not found"):
        RewardFunctionTask(name="echo", reward=f"{rewards}:contains_answer", data=str(tmp_path / "missing.jsonl"))


def test_dotted_module_path_and_csv_data(files, tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(REWARDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    csv = tmp_path / "echo.csv"
    pd.DataFrame({"prompt": [f"Say {i}:" for i in range(40)], "answer": [str(i) for i in range(40)]}).to_csv(csv, index=False)
    task = RewardFunctionTask(name="echo", reward="my_rewards:contains_answer", data=str(csv), eval_fraction=0.3)
    p = task.eval_problems()[0]
    assert task.score(p, p.answer).correct


def test_a_suite_trains_and_evaluates_on_a_custom_task(files, tmp_path):
    rewards, data = files
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["tasks"] = {"train": "echo", "eval": ["echo", "arith"], "options": suite["tasks"]["options"],
                      "custom": {"echo": {"reward": f"{rewards}:contains_answer", "data": str(data), "eval_fraction": 0.25}}}
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(suite))
    code, err = cli_in_process("run", str(path), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert code == 0, err
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    echo = board[board["task"] == "echo"].iloc[0]
    assert echo["task_version"].startswith("reward-2-") and echo["train_task"] == "echo"
    assert set(board["task"]) == {"echo", "arith", "overall"}

    suite["tasks"]["custom"]["echo"]["reward"] = f"{tmp_path}/missing.py:contains_answer"
    path.write_text(yaml.safe_dump(suite))
    code, err = cli_in_process("validate", str(path))
    assert code == 2 and "tasks.custom.echo: reward" in err and "not found" in err
