"""Equal tuning effort: the same grid, trial count and criterion for every algorithm setting.

Each trial is an ordinary run (resumable, skipped once finished) under the suite's budget, written
to `<out>/tune/runs/`, scored on the train task's *validation* split so that the eval split is never
used to choose anything. The best grid point per setting (mean criterion over the tuning seeds; ties
go to the first grid point) is used for that setting's final runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.core.errors import UserError
from harness.results.statistics import area_under_curve
from harness.spec.config import RunSpec, Suite, Train, settings_of

TUNE_DIR = "tune"


def check_grid(suite: Suite, algorithms: dict[str, object]) -> None:
    """Every grid key is a train field or a parameter of every setting's algorithm, and no setting
    fixes a key the grid varies (the trials would not differ). `algorithms`: label → an instance."""
    if suite.tune is None:
        return
    own = {label: params for label, _, params in settings_of(suite)}
    for key in suite.tune.grid:
        if key in Train.model_fields:
            continue
        for label, algorithm in algorithms.items():
            if key not in getattr(algorithm, "__dataclass_fields__", {}):
                raise UserError(f"tune.grid.{key}: neither a train field ({', '.join(Train.model_fields)}) nor a "
                                f"parameter of {label}; grid over a train field or a parameter every algorithm has")
            if key in own[label]:
                raise UserError(f"tune.grid.{key}: {label} sets {key} itself; remove it there or from the grid")


def criterion_value(summary: dict, criterion: str) -> float:
    task = summary["train_task"]
    if criterion == "auc_pass@1":
        return area_under_curve(summary["curve"], task)
    return float(summary["eval"][task]["pass@1"])


def choose(suite: Suite, trials: list[tuple[str, RunSpec]], tune_dir: Path) -> tuple[dict[str, dict], pd.DataFrame]:
    """(row label → chosen values, one row per trial) from the finished trials in `tune_dir`."""
    criterion = suite.tune.criterion
    rows = []
    for setting, trial in trials:
        done = tune_dir / "runs" / trial.run_id / "DONE"
        summary = json.loads((done.parent / "summary.json").read_text()) if done.exists() else None
        rows.append({"algorithm": setting, "trial": trial.label, "values": json.dumps(trial.tuned, sort_keys=True),
                     "seed": trial.seed, "criterion": criterion,
                     "value": criterion_value(summary, criterion) if summary else float("nan"),
                     "budget_spent": summary["budget_spent"] if summary else float("nan"),
                     "finished": summary is not None, "run_id": trial.run_id})
    table = pd.DataFrame(rows)
    chosen = {}
    for setting, block in table.groupby("algorithm", sort=False):
        means = block.groupby("values", sort=False)["value"].mean()  # grid order kept: ties go to the first
        if means.notna().any():
            chosen[setting] = json.loads(means.idxmax())
    table["chosen"] = [json.loads(v) == chosen.get(a) for a, v in zip(table["algorithm"], table["values"])]
    return chosen, table
