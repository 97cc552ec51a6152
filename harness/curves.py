"""curves.png: eval pass@1 and train reward against budget spent, one line per algorithm setting,
shaded with the 95 % t-interval over seeds, so every comparison is read at equal spend."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.atomic import read_jsonl
from harness.leaderboard import ci95

GRID = 60  # points on the budget axis for the train-reward curves


def _band(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95 % t half-width down the seed axis (no band with one seed)."""
    return rows.mean(axis=0), np.nan_to_num(ci95(rows, axis=0))


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average: per-step train reward is too noisy to read."""
    if width <= 1:
        return y
    kernel = np.ones(width)
    return np.convolve(y, kernel, mode="full")[: len(y)] / np.convolve(np.ones_like(y), kernel, mode="full")[: len(y)]


def plot_curves(summaries: list[dict], results_dir: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_label = defaultdict(list)
    for s in summaries:
        by_label[s["label"]].append(s)
    tasks = list(dict.fromkeys(t for s in summaries for t in s["eval"]))
    unit = summaries[0]["budget_unit"]
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 3.6), squeeze=False)
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(by_label), 2)))
    for color, (label, runs) in zip(colors, sorted(by_label.items())):
        for ax, task in zip(axes[0], tasks):
            curves = [s.get("curve") or [] for s in runs]
            length = min(len(c) for c in curves)
            if length == 0:
                continue
            x = np.array([[p["budget_spent"] for p in c[:length]] for c in curves]).mean(axis=0)
            mean, half = _band(np.array([[p["eval"][task]["pass@1"] for p in c[:length]] for c in curves]))
            ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
            ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), color=color, alpha=0.08, lw=0)
        rewards = []
        end = min(s["budget_spent"] for s in runs)
        grid = np.linspace(0, end, GRID)
        for s in runs:
            rows = read_jsonl(Path(results_dir) / "runs" / s["run_id"] / "metrics.jsonl")
            x = np.array([r["budget_spent"] for r in rows])
            y = _smooth(np.array([r["reward"] for r in rows]), max(1, len(rows) // 10))
            rewards.append(np.interp(grid, x, y))
        mean, half = _band(np.array(rewards))
        ax = axes[0][-1]
        ax.plot(grid, mean, color=color, label=label)
        ax.fill_between(grid, mean - half, mean + half, color=color, alpha=0.08, lw=0)
    for ax, task in zip(axes[0], tasks):
        ax.set(title=f"{task}: eval pass@1", xlabel=f"budget spent ({unit})", ylabel="pass@1")
    axes[0][-1].set(title="train reward (moving mean)", xlabel=f"budget spent ({unit})", ylabel="reward")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    n_seeds = sorted({len(runs) for runs in by_label.values()})
    fig.suptitle(f"mean over {'/'.join(map(str, n_seeds))} seed(s), band: 95 % t-interval", fontsize=9)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)
