"""Experiment trackers (`report_to`): each grainbench run mirrored into TensorBoard, MLflow, Weights &
Biases or trackio, through each library's own API, imported only when named.

One tracker run per grainbench run, grouped by suite (project/experiment = suite name, run name =
run id), its config and tags the algorithm, parameters, seed, config hash and trust-region rule,
plus one named `leaderboard` holding the final table. Every per-step metric and every evaluation's
pass@k is logged against the budget spent, so curves of different algorithms line up at equal
compute. Local by default, in the results folder: `tensorboard/<run_id>/` event files and the
`mlruns/` MLflow file store (MLFLOW_TRACKING_URI for a server), the `trackio/` store
(TRACKIO_DIR); wandb offline (WANDB_MODE) under the run folder. A tracker
that fails (not installed, unreachable) is one warning and is dropped; the run goes on unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

def _numbers(row: dict, prefix: str) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class _TensorBoard:
    def __init__(self, project: str, name: str, store: Path, state_dir: Path, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(store / "tensorboard" / name))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=1, default=str) + "\n```")

    def log(self, values: dict[str, float], x: float) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, global_step=int(x))
        self.writer.flush()

    def table(self, name: str, markdown: str, csv: str) -> None:
        self.writer.add_text(name, markdown)

    def close(self) -> None:
        self.writer.close()


class _MLflow:
    def __init__(self, project: str, name: str, store: Path, state_dir: Path, config: dict):
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if uri is None:  # a local file store needs no database driver (mlflow-skinny has none)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (store / "mlruns").resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(project)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(project)
        id_file = state_dir / "mlflow_run_id"
        if id_file.exists():  # a resumed run continues its tracker run
            self.run_id = id_file.read_text().strip()
        else:
            tags = {k: str(v) for k, v in config.items()}
            self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
            id_file.write_text(self.run_id)

    @staticmethod
    def _key(key: str) -> str:
        return re.sub(r"[^\w\-. /]", "_", key.replace("@", "_at_"))

    def log(self, values: dict[str, float], x: float) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(self._key(k), v, now, int(x)) for k, v in values.items()])

    def table(self, name: str, markdown: str, csv: str) -> None:
        self.client.log_text(self.run_id, csv, f"{name}.csv")

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class _WandB:
    def __init__(self, project: str, name: str, store: Path, state_dir: Path, config: dict):
        import wandb

        os.environ.setdefault("WANDB_MODE", "offline")
        self.wandb = wandb
        self.run = wandb.init(project=project, name=name, id=re.sub(r"[^\w-]", "-", name)[:64], resume="allow",
                              config=config, dir=str(state_dir), reinit=True)
        self.run.define_metric("budget_spent")
        self.run.define_metric("*", step_metric="budget_spent")

    def log(self, values: dict[str, float], x: float) -> None:
        self.run.log({**values, "budget_spent": x})

    def table(self, name: str, markdown: str, csv: str) -> None:
        import io

        import pandas as pd

        self.run.log({name: self.wandb.Table(dataframe=pd.read_csv(io.StringIO(csv)))})

    def close(self) -> None:
        self.run.finish()


class _Trackio:
    def __init__(self, project: str, name: str, store: Path, state_dir: Path, config: dict):
        os.environ.setdefault("TRACKIO_DIR", str((store / "trackio").resolve()))  # read when trackio is imported
        import trackio

        self.trackio = trackio
        self.run = trackio.init(project=project, name=name, config=config, resume="allow", embed=False)

    def log(self, values: dict[str, float], x: float) -> None:
        self.trackio.log({**values, "budget_spent": x}, step=int(x))

    def table(self, name: str, markdown: str, csv: str) -> None:
        import io

        import pandas as pd

        self.trackio.log({name: self.trackio.Table(dataframe=pd.read_csv(io.StringIO(csv)))})

    def close(self) -> None:
        self.trackio.finish()


BACKENDS = {"tensorboard": _TensorBoard, "mlflow": _MLflow, "wandb": _WandB, "trackio": _Trackio}


class Trackers:
    """The trackers a run reports to; each call goes to every one still working."""

    def __init__(self, names: list[str], project: str, name: str, store: Path, state_dir: Path, config: dict):
        self.active: dict[str, Any] = {}
        for tracker in names:
            self._call(tracker, lambda: self.active.__setitem__(tracker, BACKENDS[tracker](project, name, store, state_dir, config)))

    @classmethod
    def for_run(cls, names: list[str], run, out_dir: Path, run_dir: Path) -> "Trackers":
        config = {"suite": run.suite, "run_id": run.run_id, "algorithm": run.algorithm, "label": run.label, "seed": run.seed,
                  "config_hash": run.config_hash(), "trust_region": run.train.trust_region, "kl_coef": run.train.kl_coef,
                  "budget_unit": run.budget.unit, "budget_limit": run.budget.limit, **{f"param.{k}": v for k, v in run.params.items()}}
        return cls(names, run.suite, run.run_id, out_dir, run_dir, config)

    def _call(self, name: str, action) -> None:
        try:
            action()
        except Exception as e:  # a tracker never stops or changes a run
            log.warning("report_to %s: %s: %s; the run goes on without it (pip install %s)", name, type(e).__name__, e, name)
            self.active.pop(name, None)

    def step(self, row: dict) -> None:
        values = _numbers({k: v for k, v in row.items() if k not in ("budget_spent",)}, "train/")
        for name, tracker in list(self.active.items()):
            self._call(name, lambda: tracker.log(values, row["budget_spent"]))

    def evaluation(self, point: dict) -> None:
        values = {}
        for task, scores in point["eval"].items():
            values.update(_numbers({k: v for k, v in scores.items() if k.startswith(("pass@", "maj@", "mean_length"))},
                                   f"eval/{task}/"))
        for name, tracker in list(self.active.items()):
            self._call(name, lambda: tracker.log(values, point["budget_spent"]))

    def table(self, name: str, markdown: str, csv: str) -> None:
        for tracker_name, tracker in list(self.active.items()):
            self._call(tracker_name, lambda: tracker.table(name, markdown, csv))

    def close(self) -> None:
        for name, tracker in list(self.active.items()):
            self._call(name, tracker.close)


def report_leaderboard(names: list[str], suite: str, out_dir: Path, table) -> None:
    """The final leaderboard as a table in each tracker (a tracker run named `leaderboard`)."""
    if not names or table.empty:
        return
    state = out_dir / "tracking"
    state.mkdir(parents=True, exist_ok=True)
    (state / "mlflow_run_id").unlink(missing_ok=True)  # each suite run logs a fresh table
    trackers = Trackers(names, suite, "leaderboard", out_dir, state, {"suite": suite})
    from harness.results.leaderboard import to_markdown

    trackers.table("leaderboard", to_markdown(table), table.to_csv(index=False))
    trackers.close()
