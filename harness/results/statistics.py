"""The two summaries every report shares: the t-interval over seeds and the area under a pass@1 curve."""

from __future__ import annotations

import numpy as np
from scipy import stats


def ci95(values, axis: int = 0):
    """Half-width of the 95 % t-interval of the mean along `axis` (NaN with fewer than two values);
    the leaderboard's columns and the bands of curves.png both come from here."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    if n < 2:
        return np.full(np.delete(values.shape, axis), np.nan) if values.ndim > 1 else float("nan")
    half = stats.t.ppf(0.975, n - 1) * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return half if values.ndim > 1 else float(half)


def area_under_curve(curve: list[dict], task: str) -> float:
    """Mean pass@1 over the budget axis (trapezoid from the base at 0 to the final evaluation)."""
    x = np.array([point["budget_fraction"] for point in curve])
    y = np.array([point["eval"][task]["pass@1"] for point in curve])
    if len(x) < 2 or x[-1] <= 0:
        return float(y[-1])
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / x[-1])
