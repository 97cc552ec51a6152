import math

import pytest

from harness.evaluation.passk import majority_correct
from tasks.arith import Arith
from tasks.math.answer import extract_answer, is_equiv, is_equiv_many


@pytest.mark.parametrize("pred, gold", [("14", "14"), ("14.0", "14"), ("28/2", "14"), ("1,400", "1400"),
                                        (" 14. ", "14"), ("$14", "14"), ("-3", "-3"), ("0.5", "1/2")])
def test_equal_answers(pred, gold):
    assert is_equiv(pred, gold)


@pytest.mark.parametrize("pred, gold", [("15", "14"), ("-14", "14"), ("1.4", "14"), ("", "14"), ("fourteen", "14"),
                                        ("9**9**9**9", "14")])
def test_unequal_answers(pred, gold):
    assert not is_equiv(pred, gold)


def test_extraction_prefers_hashes_then_answer_is_then_last_number():
    assert extract_answer("12+7=19\n19-5=14\n#### 14") == "14"
    assert extract_answer("so the answer is 42 apples, not 7") == "42"
    assert extract_answer("we get 3 then 5") == "5"
    assert extract_answer("no digits") is None


def test_arith_scores_right_and_wrong_completions():
    task = Arith()
    problem = task.eval_problems(1)[0]
    assert task.score(problem, f"1+1=2\n#### {problem.answer}").correct
    wrong = task.score(problem, f"#### {int(problem.answer) + 1}")
    assert not wrong.correct and wrong.reward == 0.0
    assert not task.score(problem, "").correct


def test_arith_splits_are_disjoint_and_eval_and_validation_are_fixed():
    import random

    task = Arith()
    evals, validation = task.eval_problems(), task.validation_problems()
    assert len(evals) == task.eval_size == len({p.id for p in evals}) == len({p.id for p in validation})
    assert [p.id for p in evals] == [p.id for p in Arith().eval_problems()]
    assert [p.id for p in validation] == [p.id for p in Arith().validation_problems()]
    train = task.train_problems(2000, random.Random(1))
    evals, validation, train = ({p.prompt for p in split} for split in (evals, validation, train))
    assert not evals & train and not validation & train and not evals & validation


def test_arith_demonstrations_solve_their_problems():
    import random

    task = Arith()
    for prompt, solution in task.demonstrations(50, random.Random(0)):
        assert solution.splitlines()[-1].startswith("#### ")
        # evaluate each worked line: the demonstrations must be arithmetically right
        for line in solution.splitlines()[:-1]:
            lhs, rhs = line.split("=")
            assert eval(lhs) == int(rhs)


def test_majority_votes_over_equivalence_classes():
    answers = ["1/2", "0.5", "\\frac12", "3", "3"]
    correct = [True, True, True, False, False]
    assert majority_correct(answers, correct, is_equiv_many) == 1.0  # three spellings of one answer outvote "3"
    assert majority_correct(["3", "1/2", "3", None, None], [False, True, False, False, False], is_equiv_many) == 0.0
    assert majority_correct(["2", "1/2"], [False, True], is_equiv_many) == 0.0  # a tie goes to the first seen
    assert majority_correct([None, None], [False, False], is_equiv_many) == 0.0
    assert math.isnan(majority_correct(["pass", "pass"], [True, True]))  # nothing to vote on: not a number
    assert Arith.same_answers([("0.5", "1/2")]) == [True]
