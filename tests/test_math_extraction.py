"""The math reward's full path — `extract_answer` on a whole response, then `is_equiv` — on responses
written the way models write them, and on MATH's own gold spellings."""

import json
import re

import pytest

from tasks.math.answer import extract_answer, is_equiv_many

RIGHT = [  # (response, gold): the reward must be 1
    # several boxes ending the response are one answer list, in any order against a set
    ("The roots satisfy $(x-1)(x-2)(x-3)=0$, so the solutions are $\\boxed{1}$, $\\boxed{2}$, and $\\boxed{3}$.",
     "\\{1,2,3\\}"),
    ("Solving both equations gives\n\\[\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}\\]", "k = 45, n = 2"),
    ("We get two values.\n$\\boxed{2}$ and $\\boxed{-1}$", "-1, 2"),
    # an intermediate box, then a final statement
    ("First I guessed $\\boxed{12}$. Checking again, the count misses one case.\nSo the final answer is 13.", "13"),
    # prose without a box
    ("We need $x - 5 \\ge 0$.\nTherefore $x \\geq 5$ is the solution.", "[5, \\infty)"),
    ("Adding the two cases gives the total.\n\nAnswer $$ 9 $$", "9"),
    ("Each step at most doubles the value, and $2^5 = 32 < 34$.\nHence the largest $n$ is 34.", "34"),
    ("Rotating twice gives the matrix $\\begin{pmatrix} 0 & -1 \\\\ 1 & 0 \\end{pmatrix}$ as required.",
     "\\begin{pmatrix} 0 & -1 \\\\ 1 & 0 \\end{pmatrix}"),
    ("So the answer is: $\\frac{7}{2}$", "3.5"),
    ("Tom has 3 bags with 4 apples each, so $3 \\times 4 = 12$.", "12"),
    # MATH's thousands separator in the gold, a plain number in the response
    ("The product is $10000$.", "10,\\!000"),
    # the same line, written two ways
    ("The line through both points is $2x+4y-3=0$.", "y=-\\frac12x+\\frac34"),
]
WRONG = [  # (response, gold): the reward must be 0
    ("The code on the card reads AZYUK2A.", "2"),  # a digit inside a word is no answer
    ("The golden ratio is $\\frac{1+\\sqrt{5}}{2}$", "2"),  # nor a digit cut out of an expression
    ("The solution set is $[0,9)$", "(0,9)"),  # an interval is not the open one
    ("Both roots are $\\boxed{1}$ and $\\boxed{3}$", "\\{1,2,3\\}"),
    ("I first found $\\boxed{13}$, but the final answer is 12.", "13"),
    ("The decimal is 0,111 here.", "111"),  # a decimal comma, never a thousands separator after 0
    ("So $x + y = 3$.", "3"),  # an equation is not its right-hand side
    ("Let $f(x) = x^2$ so f grows.", "2"),
]


@pytest.mark.parametrize("response, gold", RIGHT, ids=[f"right{i}" for i in range(len(RIGHT))])
def test_whole_responses_that_are_right(response, gold):
    answer = extract_answer(response)
    assert answer is not None and is_equiv_many([(answer, gold)]) == [True], answer


@pytest.mark.parametrize("response, gold", WRONG, ids=[f"wrong{i}" for i in range(len(WRONG))])
def test_whole_responses_that_are_wrong_never_pass(response, gold):
    answer = extract_answer(response)
    assert answer is None or is_equiv_many([(answer, gold)]) == [False], answer


def test_several_boxes_in_the_gold_are_one_answer():
    assert is_equiv_many([("\\boxed{1,2}", "\\boxed{1}\\boxed{2}"), ("\\boxed{2}", "\\boxed{1}\\boxed{2}")]) == [True, False]


def test_maths_thousands_separator_in_every_gold(shared_data):
    rows = [json.loads(line) for name in ("math500/test.jsonl", "math4500/train.jsonl")
            for line in (shared_data / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    golds = [row.get("answer") or extract_answer(row["solution"]) or "" for row in rows]
    spelled = sorted({g for g in golds if ",\\!" in g})
    assert len(spelled) >= 5
    # the plain number a model writes (units and currency dropped as the gold's own spelling does)
    written = [re.sub(r",\\!\s*", "", g) for g in spelled]
    plain = [extract_answer(f"The total is {w}." if w.startswith("\\$") else f"The total is ${w}$.") for w in written]
    verdicts = is_equiv_many([(p or "", g) for p, g in zip(plain, spelled)])
    assert all(verdicts), [(p, g) for p, g, v in zip(plain, spelled, verdicts) if not v]
