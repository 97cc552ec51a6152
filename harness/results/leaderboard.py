"""Per-run summaries → leaderboard rows with 95 % confidence intervals over seeds.

One row per (algorithm setting × train task × eval task), plus an `overall` row per setting (the
mean over eval tasks, taken per run before averaging seeds) when a suite evaluates on several
tasks. Every metric is the mean over seeds with a `_ci95` half-width from Student's t (NaN with
a single seed: one seed gives no interval, and the table should say so rather than show zero).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core import atomic
from harness.results.curves import plot_curves
from harness.results.statistics import area_under_curve, ci95

KEYS = ["label", "train_task", "task", "config_hash"]
OVERALL = "overall"
# measured, not computed from the seeds: they differ between any two executions of the same run
TIMINGS = ["wall_seconds", "train_seconds", "gpu_seconds"]
CONSTANT = ["algorithm_name", "algorithm_version", "task_version", "scorer_version", "budget_unit", "budget_limit",
            "updates_per_batch", "trust_region", "kl_coef", "tuned", "engine"]
# how each row trained, averaged over seeds: a row that differs here is in a different regime
TRAINING = ["steps", "updates", "clip_frac", "kl_old", "kl_ref", "trained_tokens", "generated_tokens",
            "monte_carlo_share", "budget_spent", "flops"]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns averaged over seeds with an interval: pass@k, maj@n, base, delta and area under the curve."""
    return [c for c in frame.columns if c.startswith(("pass@", "maj@", "base_pass@", "delta_pass@", "auc_"))
            and not c.endswith("_ci95")]


SUITE_RUNS = "suite_runs.json"  # the run ids of the suite last run into a results folder


def suite_run_ids(results_dir: Path) -> list[str] | None:
    """The runs of the suite a results folder was last run with, the only ones its leaderboard, curves
    and comparisons may show; None (every finished run) for a folder no suite wrote."""
    path = Path(results_dir) / SUITE_RUNS
    return json.loads(path.read_text())["runs"] if path.is_file() else None


def others_in_folder(results_dir: Path, run_ids: list[str]) -> list[str]:
    """Finished runs kept in the folder that are not part of the suite (an earlier version of it)."""
    return sorted(d.parent.name for d in Path(results_dir).glob("runs/*/DONE") if d.parent.name not in set(run_ids))


def summaries(results_dir: Path, run_ids: list[str] | None = None) -> list[dict]:
    """summary.json of every finished run (runs/*/DONE), or of those among `run_ids`."""
    found = [json.loads((done.parent / "summary.json").read_text()) for done in sorted(Path(results_dir).glob("runs/*/DONE"))]
    return found if run_ids is None else [s for s in found if s["run_id"] in set(run_ids)]


def run_rows(results_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per finished run and eval task."""
    rows = []
    for summary in summaries(results_dir, run_ids):
        curve = summary.get("curve") or [{"budget_fraction": 0.0, "eval": summary["base_eval"]},
                                         {"budget_fraction": summary["budget_fraction"], "eval": summary["eval"]}]
        for task, ev in summary["eval"].items():
            base = summary["base_eval"][task]
            row = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
            row["tuned"] = json.dumps(summary.get("tuned") or {}, sort_keys=True) if summary.get("tuned") else ""
            row.update({k: v for k, v in ev.items() if k.startswith(("pass@", "maj@")) or k == "mean_length"})
            row.update({"task": task, "task_version": ev["task_version"], "scorer_version": ev.get("scorer_version", ""),
                        "base_pass@1": base["pass@1"], "delta_pass@1": ev["pass@1"] - base["pass@1"],
                        "auc_pass@1": area_under_curve(curve, task)})
            rows.append(row)
    return pd.DataFrame(rows)


def with_overall(runs: pd.DataFrame) -> pd.DataFrame:
    """Add one `overall` row per run: the mean of its eval tasks' metrics."""
    if runs["task"].nunique() < 2:
        return runs
    metrics = metric_columns(runs)
    per_run = runs.groupby("run_id", sort=False)
    overall = per_run.first()
    overall[metrics] = per_run[metrics].mean()
    # maj@n is NaN for tasks with nothing to vote on (code): then it has no overall value either
    votes = [m for m in metrics if m.startswith("maj@")]
    overall[votes] = per_run[votes].agg(lambda v: v.mean(skipna=False))
    overall["mean_length"] = per_run["mean_length"].mean()
    for col in ("task_version", "scorer_version"):
        overall[col] = per_run[col].apply(lambda v: " ".join(sorted(set(map(str, v)))))
    overall["task"] = OVERALL
    return pd.concat([runs, overall.reset_index()], ignore_index=True)


def build(results_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    runs = run_rows(results_dir, run_ids)
    if runs.empty:
        return runs
    runs = with_overall(runs)
    metrics = metric_columns(runs)
    numeric = metrics + ["mean_length"] + [c for c in TRAINING + TIMINGS if c in runs.columns]
    grouped = runs.groupby(KEYS, sort=True)
    table = grouped[numeric].mean()
    for col in metrics:
        table[f"{col}_ci95"] = grouped[col].apply(ci95)
    table["seeds"] = grouped["seed"].apply(lambda s: " ".join(str(v) for v in sorted(s)))
    table["n_seeds"] = grouped["seed"].nunique()
    present = [c for c in CONSTANT if c in runs.columns]
    table[present] = grouped[present].first()
    table = table.reset_index().rename(columns={"label": "algorithm"})
    tuning_file = Path(results_dir) / "tuning.csv"
    if tuning_file.is_file():  # the price of tuning, per setting
        spent = tuning_cost(pd.read_csv(tuning_file)).drop(columns="tuned")
        table = table.merge(spent, on="algorithm", how="left")
    first = ["algorithm", "train_task", "task", "seeds", "n_seeds"]
    for col in ["pass@1", "base_pass@1", "delta_pass@1"] + [m for m in metrics if m not in ("pass@1", "base_pass@1", "delta_pass@1")]:
        first += [col, f"{col}_ci95"]
    ordered = first + [c for c in table.columns if c not in first]
    table["_overall"] = table["task"] == OVERALL
    table = table.sort_values(["_overall", "task", "pass@1"], ascending=[True, True, False], ignore_index=True)
    return table[ordered]


def write(results_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """leaderboard.csv, leaderboard.md and curves.png from the run files of `results_dir`: only those of
    `run_ids` (default: of the folder's suite.yaml), never others left in the folder."""
    if run_ids is None:
        run_ids = suite_run_ids(results_dir)
    table = build(results_dir, run_ids)
    if not table.empty:
        results_dir = Path(results_dir)
        plot_curves(summaries(results_dir, run_ids), results_dir, results_dir / "curves.png")
        atomic.write_text(results_dir / "leaderboard.md", to_markdown(table) + "\n")
        atomic.write_text(results_dir / "leaderboard.csv", table.to_csv(index=False, float_format="%.6g"))  # last: it means done
    return table


def to_markdown(table: pd.DataFrame) -> str:
    def cell(row, col):
        value = row[col]
        half = row.get(f"{col}_ci95", float("nan"))
        return f"{value:.3f} ± {half:.3f}" if np.isfinite(half) else f"{value:.3f}"

    def number(value, spec):
        return format(value, spec) if isinstance(value, (int, float)) and np.isfinite(value) else ""

    metrics = ["pass@1", "delta_pass@1"] + [c for c in table.columns if c.startswith(("pass@", "maj@"))
                                              and not c.endswith("_ci95") and c != "pass@1"] + ["auc_pass@1"]
    regime = [("steps", ".0f"), ("updates", ".0f"), ("clip_frac", ".3f"), ("kl_old", ".2e"), ("trained_tokens", ".3g"),
              ("budget_spent", ".4g")]
    regime = [(c, spec) for c, spec in regime if c in table.columns]
    header = ["algorithm", "task", "seeds", *metrics, *(c for c, _ in regime), "updates_per_batch", "trust_region",
              "tuned", "config_hash"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row["algorithm"], row["task"], row["seeds"], *(cell(row, m) for m in metrics),
                 *(number(row[c], spec) for c, spec in regime), str(row["updates_per_batch"]),
                 row.get("trust_region", ""), row.get("tuned", ""), row["config_hash"]]
        lines.append("| " + " | ".join("" if isinstance(c, float) and not np.isfinite(c) else str(c) for c in cells) + " |")
    return "\n".join(lines) + ("\n\nMean over seeds ± half-width of the 95 % t-interval (none with one seed). steps, updates, "
                               "clip_frac (mean over updates), kl_old (KL to the sampling policy) and trained tokens "
                               "show how each row trained under the same budget.")


def tuning_cost(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the chosen values, the trials run and the budget they spent (the price of tuning)."""
    out = []
    for setting, block in table.groupby("algorithm", sort=False):
        picked = block.loc[block["chosen"], "values"]
        out.append({"algorithm": setting, "tuned": picked.iloc[0] if len(picked) else "",
                    "tuning_trials": int(block["finished"].sum()), "tuning_budget": float(np.nansum(block["budget_spent"]))})
    return pd.DataFrame(out)
