"""curves.png: eval pass@1, train reward and the training diagnostics (clip fraction, kl_old,
entropy) against budget spent, one line per configuration, shaded with the 95 % t-interval over
seeds (three or more), so every comparison is read at equal spend."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.core.atomic import read_jsonl
from harness.results.statistics import ci95

GRID = 60  # points on the budget axis for the train-reward curves


# training diagnostics drawn beside the rewards, each clipped to its range: (metrics.jsonl key, title, low, high)
DIAGNOSTICS = [("reward", "train reward (moving mean)", None, None), ("clip_frac", "clip fraction", 0.0, 1.0),
               ("kl_old", "KL to the sampler (kl_old)", 0.0, None), ("entropy", "entropy", 0.0, None)]
STYLES = ["-", "--", ":", "-."]


def _band(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95 % t half-width down the seed axis; no band below three seeds (with two the
    t quantile is 12.7 and the band covers the panel)."""
    if len(rows) < 3:
        return rows.mean(axis=0), np.zeros(rows.shape[1])
    return rows.mean(axis=0), np.nan_to_num(ci95(rows, axis=0))


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average: per-step train reward is too noisy to read."""
    if width <= 1:
        return y
    kernel = np.ones(width)
    return np.convolve(y, kernel, mode="full")[: len(y)] / np.convolve(np.ones_like(y), kernel, mode="full")[: len(y)]


def _groups(summaries: list[dict]) -> dict[str, list[dict]]:
    """Runs grouped by configuration (label and config hash), never by label alone: two
    configurations under one label are two lines, not one line "over more seeds"."""
    by_config = defaultdict(list)
    for s in summaries:
        by_config[s["label"], s["config_hash"]].append(s)
    hashes = defaultdict(set)
    for label, config in by_config:
        hashes[label].add(config)
    return {label if len(hashes[label]) == 1 else f"{label} @{config[:6]}": runs
            for (label, config), runs in sorted(by_config.items())}


def plot_curves(summaries: list[dict], results_dir: Path, out: Path) -> None:
    """Top row: each eval task's pass@1; bottom row: the train reward and the training diagnostics,
    all against budget spent. One colour per setting, one line style per algorithm family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(summaries)
    tasks = list(dict.fromkeys(t for s in summaries for t in s["eval"]))
    unit = summaries[0]["budget_unit"]
    columns = max(len(tasks), len(DIAGNOSTICS))
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 7.0), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    families = list(dict.fromkeys(runs[0].get("algorithm_name", name) for name, runs in groups.items()))
    for i, (name, runs) in enumerate(groups.items()):
        family = families.index(runs[0].get("algorithm_name", name))
        # a colour per setting; past ten settings the colours repeat, so the style shifts with them
        style = dict(color=colors[i % len(colors)], ls=STYLES[(family + i // len(colors)) % len(STYLES)])
        for ax, task in zip(axes[0], tasks):
            curves = [s.get("curve") or [] for s in runs]
            length = min(len(c) for c in curves)
            if length == 0:
                continue
            x = np.array([[p["budget_spent"] for p in c[:length]] for c in curves]).mean(axis=0)
            mean, half = _band(np.array([[p["eval"][task]["pass@1"] for p in c[:length]] for c in curves]))
            ax.plot(x, mean, marker="o", ms=3, label=name, **style)
            ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), color=style["color"], alpha=0.08, lw=0)
        metrics = [read_jsonl(Path(results_dir) / "runs" / s["run_id"] / "metrics.jsonl") for s in runs]
        grid = np.linspace(0, min(s["budget_spent"] for s in runs), GRID)
        for ax, (key, _, low, high) in zip(axes[1], DIAGNOSTICS):
            kept = [[r for r in rows if r.get(key) is not None] for rows in metrics]  # steps that record it
            if not all(kept):
                continue
            lines = []
            for rows in kept:
                y = np.array([r[key] for r in rows], dtype=float)
                lines.append(np.interp(grid, [r["budget_spent"] for r in rows], _smooth(y, max(1, len(rows) // 10))))
            mean, half = _band(np.array(lines))
            seen = np.concatenate(lines)
            lo, hi = (seen.min() if low is None else low), (seen.max() if high is None else high)
            ax.plot(grid, mean, **style)
            ax.fill_between(grid, np.clip(mean - half, lo, hi), np.clip(mean + half, lo, hi), color=style["color"], alpha=0.08, lw=0)
    for ax, task in zip(axes[0], tasks):
        ax.set(title=f"{task}: eval pass@1", xlabel=f"budget spent ({unit})", ylabel="pass@1")
    for ax, (_, title, _, _) in zip(axes[1], DIAGNOSTICS):
        ax.set(title=title, xlabel=f"budget spent ({unit})")
    for ax in axes[0][len(tasks):]:
        ax.axis("off")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    n_seeds = sorted({len(runs) for runs in groups.values()})
    band = "band: 95 % t-interval" if min(n_seeds) >= 3 else "no band below 3 seeds"
    fig.suptitle(f"mean over {'/'.join(map(str, n_seeds))} seed(s), {band}", fontsize=9)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)
