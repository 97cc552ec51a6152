"""Per-run summaries → one leaderboard row per (algorithm setting × train task × eval task)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness import atomic

FIRST_COLUMNS = ["algorithm", "train_task", "task", "seeds", "pass@1", "base_pass@1", "delta_pass@1"]


def run_rows(results_dir: Path) -> pd.DataFrame:
    """One row per finished run and eval task, read from runs/*/summary.json (DONE runs only)."""
    rows = []
    for done in sorted(Path(results_dir).glob("runs/*/DONE")):
        summary = json.loads((done.parent / "summary.json").read_text())
        for task, ev in summary["eval"].items():
            base = summary["base_eval"][task]
            row = {k: v for k, v in summary.items() if not isinstance(v, dict)}
            row.update({k: v for k, v in ev.items() if k.startswith(("pass@", "maj@")) or k == "mean_length"})
            row.update({"task": task, "task_version": ev["task_version"], "base_pass@1": base["pass@1"],
                        "delta_pass@1": ev["pass@1"] - base["pass@1"]})
            rows.append(row)
    return pd.DataFrame(rows)


def build(results_dir: Path) -> pd.DataFrame:
    runs = run_rows(results_dir)
    if runs.empty:
        return runs
    keys = ["label", "train_task", "task", "config_hash"]
    metric_cols = [c for c in runs.columns if c.startswith(("pass@", "maj@", "base_pass@", "delta_pass@"))]
    numeric = metric_cols + ["mean_length", "budget_spent", "generated_tokens", "flops", "wall_seconds", "steps"]
    constant = ["algorithm_name", "algorithm_version", "task_version", "budget_unit", "budget_limit",
                "updates_per_batch", "engine"]
    grouped = runs.groupby(keys, sort=True)
    table = grouped[numeric].mean()
    table["seeds"] = grouped["seed"].apply(lambda s: " ".join(str(v) for v in sorted(s)))
    table[constant] = grouped[constant].first()
    table = table.reset_index().rename(columns={"label": "algorithm"})
    rest = [c for c in table.columns if c not in FIRST_COLUMNS]
    return table[FIRST_COLUMNS + rest].sort_values(["task", "pass@1"], ascending=[True, False], ignore_index=True)


def write(results_dir: Path) -> pd.DataFrame:
    table = build(results_dir)
    if not table.empty:
        atomic.write_text(Path(results_dir) / "leaderboard.csv", table.to_csv(index=False, float_format="%.6g"))
        atomic.write_text(Path(results_dir) / "leaderboard.md", to_markdown(table) + "\n")
    return table


def to_markdown(table: pd.DataFrame) -> str:
    cols = ["algorithm", "task", "seeds", "pass@1", "base_pass@1", "delta_pass@1"] + \
           [c for c in table.columns if c.startswith("pass@") and c != "pass@1"] + \
           ["budget_spent", "budget_limit", "generated_tokens", "wall_seconds", "updates_per_batch", "config_hash"]
    shown = table[[c for c in cols if c in table.columns]]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines)
