"""`grainbench publish`: a leaderboard others can check — CSV, Markdown, curves and a manifest that
ties every number to the code, packages, hardware and run configs that produced it."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from harness.core import atomic, environment
from harness.core.errors import UserError
from harness.results import leaderboard

FILES = ("leaderboard.csv", "leaderboard.md", "comparisons.csv", "comparisons.md", "curves.png", "suite.yaml")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(results_dir: Path) -> dict:
    runs = leaderboard.summaries(results_dir, leaderboard.suite_run_ids(results_dir))
    suite_file = results_dir / "suite.yaml"
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "suite_sha256": sha256(suite_file) if suite_file.is_file() else None,
        "git_commits": sorted({r.get("git_commit") or "unknown" for r in runs}),  # of the code that ran
        "runs": [{"run_id": r["run_id"], "algorithm": r["label"], "seed": r["seed"], "config_hash": r["config_hash"],
                  "git_commit": r.get("git_commit"), "host": r.get("host"), "steps": r["steps"],
                  "budget_spent": r["budget_spent"]} for r in runs],
        "publisher": {"git_commit": environment.git_commit(), "packages": environment.package_versions(),
                      "hardware": environment.hardware()},
        "reproduce": "grainbench leaderboard RESULTS_DIR rebuilds these files from the runs' summary.json and metrics.jsonl",
    }


def publish(results_dir: Path, to: Path) -> Path:
    if not results_dir.is_dir():
        raise UserError(f"results directory {results_dir} not found")
    if to.exists() and not to.is_dir():
        raise UserError(f"--to {to} is a file; pass a directory (new, empty, or an earlier publish)")
    if to.is_dir():
        ours = {"manifest.json", *json.loads((to / "manifest.json").read_text()).get("files", {})} if (to / "manifest.json").is_file() else set()
        foreign = sorted(p.name for p in to.iterdir() if p.name not in ours)
        if foreign:  # a publish replaces only what an earlier publish wrote
            raise UserError(f"--to {to} holds files grainbench did not publish ({', '.join(foreign[:5])}); "
                            "pass a new or empty directory, or an earlier publish's")
    table = leaderboard.write(results_dir)
    if table.empty:
        raise UserError(f"{results_dir} holds no finished run (runs/*/DONE); run the suite first")
    info = manifest(results_dir)
    with atomic.directory(to) as tmp:
        for name in FILES:
            if (results_dir / name).is_file():
                shutil.copyfile(results_dir / name, tmp / name)
        info["files"] = {p.name: sha256(p) for p in sorted(tmp.iterdir())}
        atomic.write_json(tmp / "manifest.json", info)
    return to
