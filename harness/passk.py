"""Evaluation metrics over n samples per problem."""

from __future__ import annotations

from collections import Counter

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 − C(n−c, k) / C(n, k), computed stably."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n; got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(answers: list[str | None], correct: list[bool]) -> bool:
    """maj@n: is the most frequent extracted answer (ties → first seen) a correct one?"""
    voted = [(a, ok) for a, ok in zip(answers, correct) if a is not None]
    if not voted:
        return False
    top = Counter(a for a, _ in voted).most_common(1)[0][0]
    return next(ok for a, ok in voted if a == top)
