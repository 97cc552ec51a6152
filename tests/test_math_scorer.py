"""The math scorer on real benchmark answers, the labelled dev pairs, and hostile inputs."""

import json
import multiprocessing
import random
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from tasks.math.answer import extract_answer, is_equiv, is_equiv_many, normalize, to_rational
from tasks.math.bounded import BoundedChecker


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_extraction_forms():
    assert extract_answer(r"so $\boxed{\frac{1}{\sqrt{2}}}$. Then 7") == r"\frac{1}{\sqrt{2}}"  # nested braces, last wins
    assert extract_answer(r"\boxed{1} and finally \fbox{2}") == "2"
    assert extract_answer(r"\boxed 5 is it") == "5"
    assert extract_answer("12+7=19\n#### 1,234\n") == "1,234"
    assert extract_answer(r"The answer is $\frac{3}{4}$.") == r"\frac{3}{4}"
    assert extract_answer("we get 3 then 5.") == "5"
    assert extract_answer(r"so 2, cut off \boxed{\frac{1}{2") is None
    assert extract_answer("no digits") is None


@pytest.mark.parametrize("raw, canonical", [
    (r"\dfrac{1}{2}", r"\frac{1}{2}"), ("1,000,000", "1000000"), (r"1{,}000", "1000"), (r"50\%", "50"),
    (r"90^\circ", "90"), ("7.", "7"), ("x = 3", "3"), (r"\text{(B)}", "B"), (r"10\text{ cm}^2", "10"),
    ("18 dollars", "18"), (r"\left( 1, 2 \right)", "( 1, 2 )"), ("\u22125", "-5"), (r"\boxed{7}", "7"),
])
def test_normalisation(raw, canonical):
    assert normalize(raw) == canonical


def test_plain_numbers_never_reach_the_worker():
    checker = BoundedChecker()
    assert is_equiv_many([("1e3", "1000"), ("0.50", "1/2"), ("-7", "7"), ("12 apples", "12")], checker=checker) == [True, True, False, True]
    assert checker._proc is None  # decided in-process by exact rationals
    assert to_rational("1e400") is None and to_rational("3/4") == to_rational("0.75")


def test_labelled_dev_pairs(shared_data):
    rows = read_jsonl(shared_data / "math_equiv_dev.jsonl")
    verdicts = is_equiv_many([(r["pred"], r["gold"]) for r in rows])
    wrong = [(r["pred"], r["gold"], r["note"]) for r, v in zip(rows, verdicts) if v != r["equal"]]
    assert len(rows) == 82
    assert 1 - len(wrong) / len(rows) >= 0.98, wrong
    # the one-pair entry point agrees with the batched one
    assert [is_equiv(r["pred"], r["gold"]) for r in rows[:30]] == verdicts[:30]


def test_gsm8k_gold_extraction(shared_data):
    rows = read_jsonl(shared_data / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    assert all(extract_answer(r["answer"]) == r["answer"].split("####")[-1].strip() for r in rows)


def test_math500_reference_solutions_match_their_answers(shared_data):
    rows = read_jsonl(shared_data / "math500" / "test.jsonl")
    verdicts = is_equiv_many([(extract_answer(r["solution"]) or "", r["answer"]) for r in rows])
    misses = [r["unique_id"] for r, v in zip(rows, verdicts) if not v]
    assert len(rows) == 500 and sum(verdicts) / len(rows) >= 0.995, misses


def test_math500_golds_of_different_problems_differ(shared_data):
    rows = read_jsonl(shared_data / "math500" / "test.jsonl")
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    pairs = [(rows[i]["answer"], rows[j]["answer"]) for i, j in zip(range(len(rows)), order) if i != j]
    equal = [p for p, v in zip(pairs, is_equiv_many(pairs)) if v]
    # every "equal" pair must be a genuine coincidence: the very same value written the same way
    assert all(normalize(a) == normalize(b) for a, b in equal), equal
    assert len(equal) <= 15


HOSTILE = [
    (r"10^{10^{10}}", "1"), (r"10^{10^{10}}", r"10^{10^{10}}+1"), (r"2^{2^{2^{2^{2^{2}}}}}", "3"),
    ("\\frac{1}{" * 60 + "2" + "}" * 60, "1"), ("x" * 10_000, "1"), ("1+" * 5_000 + "1", "5001"),
    (r"(x+1)^{100000}", "x"), (r"\sin(x)^{999}+" * 200 + "1", "2"),
]


@pytest.fixture(scope="module")
def fast_checker():
    checker = BoundedChecker(timeout_s=1.0).start()
    yield checker
    checker.close()


@pytest.mark.parametrize("pred, gold", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_no_check_outlives_its_bound(fast_checker, pred, gold):
    started = time.monotonic()
    assert not is_equiv(pred, gold, checker=fast_checker)
    assert time.monotonic() - started < fast_checker.timeout_s + 0.25


def test_a_late_check_does_not_poison_the_next(fast_checker):
    before = fast_checker.timeouts
    verdicts = is_equiv_many([(r"10^{10^{10}}", "1"), (r"\frac{\pi}{2}", r"\frac{1}{2}\pi"), (r"\sqrt{12}", r"2\sqrt{3}")],
                             checker=fast_checker)
    assert verdicts == [False, True, True] and fast_checker.timeouts == before + 1


def test_bound_holds_off_the_main_thread(fast_checker):
    out = {}

    def work():
        started = time.monotonic()
        out["verdicts"] = is_equiv_many([(r"10^{10^{10}}", "1"), (r"\frac{2}{4}", "0.5")], checker=fast_checker)
        out["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)
    assert out["verdicts"] == [False, True] and out["seconds"] < 2 * fast_checker.timeout_s + 1.0


def _check_in_worker(pair):
    checker = BoundedChecker(timeout_s=1.0).start()
    started = time.monotonic()
    verdict = is_equiv(*pair, checker=checker)
    return verdict, time.monotonic() - started


def test_bound_holds_inside_daemonic_pool_workers():
    # pool workers are daemonic: they may not start multiprocessing children, but the checker's
    # subprocess worker works there, and its bound still holds
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_check_in_worker, [(r"10^{10^{10}}", "1"), (r"\sqrt{8}", r"2\sqrt{2}")]))
    assert [v for v, _ in results] == [False, True]
    assert all(seconds < 1.25 for _, seconds in results)
