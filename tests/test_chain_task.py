"""The `chain` task: disjoint splits, answers checked by the math scorer, long responses, and the
first wrong step of a response found from the right intermediate values."""

import random
import statistics

import pytest

from harness.training.embedded import TOKENIZER_CORPUS, build_tokenizer
from tasks.chain import Chain


@pytest.fixture(scope="module")
def chain():
    return Chain()


def test_splits_are_disjoint_and_fixed(chain):
    train = {p.id for p in chain.train_problems(3000, random.Random(0))}
    validation = {p.id for p in chain.validation_problems()}
    evaluation = {p.id for p in chain.eval_problems()}
    assert len(evaluation) == 200 and len(validation) == 200
    assert not train & evaluation and not train & validation and not validation & evaluation
    assert [p.id for p in Chain().eval_problems(20)] == [p.id for p in chain.eval_problems(20)]


def test_demonstrations_are_right_and_long_under_the_embedded_tokenizer(chain):
    demos = chain.demonstrations(TOKENIZER_CORPUS, random.Random(1))
    tokenizer = build_tokenizer(p + s for p, s in demos)
    assert statistics.mean(len(tokenizer(s)["input_ids"]) for _, s in demos) >= 60
    for prompt, solution in demos[:200]:
        lines = solution.split("\n")
        values = [int(line.split("=")[1]) for line in lines[:-1]]
        answer = lines[-1].removeprefix("#### ")
        assert values[-1] == int(answer) and all(0 <= v <= chain.max_value for v in values)


def test_answers_are_checked_by_the_math_scorer(chain):
    problem, solution = chain._sample(1, random.Random(3), "eval")[0]
    assert chain.score(problem, solution).correct and chain.score(problem, solution).reward == 1.0
    wrong = solution.rsplit("#### ", 1)[0] + f"#### {int(problem.answer) + 1}"
    assert not chain.score(problem, wrong).correct and chain.score(problem, wrong).reward == 0.0
    assert not chain.score(problem, "no answer here").correct


def test_first_wrong_step_on_hand_made_responses(chain):
    from tasks.base import Problem

    problem = Problem(id="x", prompt="Start at 10, then add 5, double, subtract 3, halve. Result?\n", answer="13")
    assert chain.right_values(problem) == [15, 30, 27, 13]
    right = "10+5=15\n15*2=30\n30-3=27\n27/2=13\n#### 13"
    assert chain.first_wrong_step(problem, right) is None
    assert chain.first_wrong_step(problem, "10+5=15\n15*2=31\n31-3=28\n28/2=14\n#### 14") == 1
    # a slip that a later step happens to undo still goes wrong where it first went wrong
    assert chain.first_wrong_step(problem, "10+5=16\n16*2=30\n30-3=27\n27/2=13\n#### 13") == 0
    assert chain.first_wrong_step(problem, "10+5=15\n15*2=30\n#### 30") == 2  # steps missing
    assert chain.first_wrong_step(problem, "10+5=15\nthirty\n30-3=27\n27/2=13\n#### 13") == 1  # malformed line
    assert chain.first_wrong_step(problem, "") == 0
    assert chain.step_spans(right)[1] == (8, 15) and right[8:15] == "15*2=30"


def test_right_values_follow_every_generated_solution(chain):
    for problem, solution in chain._sample(100, random.Random(5), "train"):
        assert chain.first_wrong_step(problem, solution) is None
        assert chain.right_values(problem)[-1] == int(problem.answer)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="min_steps"):
        Chain(min_steps=5, max_steps=3)
