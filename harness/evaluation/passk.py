"""Evaluation metrics over n samples per problem."""

from __future__ import annotations

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 − C(n−c, k) / C(n, k), computed stably."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n; got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(answers: list[str | None], correct: list[bool], same_answers=None) -> float:
    """maj@n: is the most frequent answer (ties → first seen) a correct one? Answers are counted by
    equivalence class under the task's own `same_answers(pairs) -> [bool]` ("1/2", "0.5" and
    "\\frac12" are one vote); NaN when the task has none (a program has no answer to vote on)."""
    if same_answers is None:
        return float("nan")
    classes: list[list[int]] = []  # indices of the answers in each class; the first is its representative
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        matches = same_answers([(answer, answers[c[0]]) for c in classes]) if classes else []
        home = next((c for c, same in zip(classes, matches) if same), None)
        if home is None:
            classes.append([i])
        else:
            home.append(i)
    if not classes:
        return 0.0
    top = max(classes, key=len)  # max keeps the first of equal sizes: the first seen
    return float(correct[top[0]])
