"""`grainbench` command line: run, validate, eval, algorithms, tasks, leaderboard.

Every user mistake surfaces as one `error:` line and exit code 2; a run that diverges is reported
and the suite carries on, exiting 1 at the end.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from harness.errors import UserError
from harness.logs import quiet_libraries

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark policy-gradient granularity for LLM RL.")


def _version(show: bool) -> None:
    if show:
        from importlib import metadata

        typer.echo(f"grainbench {metadata.version('grainbench')}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit")):
    """Benchmark policy-gradient granularity for LLM RL."""

DEFAULT_CACHE = Path(os.environ.get("GRAINBENCH_CACHE", Path.home() / ".cache" / "grainbench"))


@app.command()
def run(suite_file: Path = typer.Argument(..., help="suite YAML, e.g. suites/quick.yaml"),
        out: Optional[Path] = typer.Option(None, "--out", help="results directory (default results/<suite name>)"),
        cache: Path = typer.Option(DEFAULT_CACHE, "--cache", help="where warm-started base models are cached"),
        seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds replacing the suite's, e.g. 0,1,2")):
    """Train every (algorithm × task × seed) of a suite, evaluate, and write the leaderboard."""
    from harness.config import load_suite
    from harness.suite import run_suite

    from harness import distributed

    suite = load_suite(suite_file, seeds=_int_list(seeds, "--seeds") if seeds is not None else None)
    quiet_libraries()
    distributed.init_from_env()  # under torchrun: one data-parallel process each
    result = run_suite(suite, out or Path("results") / suite.name, cache)
    if not distributed.is_main():
        return
    if not result.table.empty:
        cols = ["algorithm", "task", "seeds", "pass@1", "pass@1_ci95", "delta_pass@1", "steps", "updates", "clip_frac",
                "kl_old", "budget_spent", "wall_seconds"]
        typer.echo(result.table[cols].to_string(index=False, na_rep=""))  # one seed: no interval, not "NaN"
    typer.echo(f"leaderboard: {result.out_dir / 'leaderboard.csv'}")
    if result.failed:
        for run_id, why in result.failed.items():
            typer.echo(f"run {run_id} failed: {why}", err=True)
        raise typer.Exit(1)


@app.command()
def validate(suite_file: Path = typer.Argument(..., help="suite YAML to check"),
             schema_only: bool = typer.Option(False, "--schema-only", help="check names and fields without loading any data")):
    """Check a suite file and every name in it without running anything."""
    from harness.config import load_suite
    from harness.suite import check_names

    suite = load_suite(suite_file)
    runs = check_names(suite, load_data=not schema_only)
    typer.echo(f"{suite_file}: ok ({len(runs)} runs{', schema only: data not loaded' if schema_only else ''})")


@app.command("eval")
def eval_cmd(model: str = typer.Option(..., "--model", help="HF model directory or hub id"),
             task: str = typer.Option(..., "--task", help="a registered task, e.g. gsm8k"),
             n: int = typer.Option(4, "--n", min=1, help="samples per problem"),
             k: str = typer.Option("1", "--k", help="comma-separated k for pass@k, each <= n"),
             limit: Optional[int] = typer.Option(None, "--limit", min=1, help="score only the first N problems"),
             option: list[str] = typer.Option([], "--option", help="task option KEY=VALUE, e.g. path=data/gsm8k"),
             temperature: float = typer.Option(1.0, "--temperature", min=0.0),
             max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1),
             seed: int = typer.Option(0, "--seed"),
             engine: str = typer.Option("hf", "--engine"),
             backend: str = typer.Option("grainbench", "--backend", help="grainbench (an engine) or lm-eval"),
             out: Optional[Path] = typer.Option(None, "--out", help="output directory (default results/eval/<model>-<task>)")):
    """Score any checkpoint on a task: per-sample JSONL plus a one-row summary (CSV and JSON)."""
    import yaml

    from harness.evaluator import score_checkpoint

    ks = _int_list(k, "--k")
    if any(not 1 <= x <= n for x in ks):
        raise UserError(f"--k {k}: every k must be between 1 and --n ({n})")
    options = {}
    for item in option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r}: expected KEY=VALUE, e.g. --option path=data/gsm8k")
        options[key] = yaml.safe_load(value)
    quiet_libraries()
    out = out or Path("results") / "eval" / f"{Path(model).name}-{task}"
    table = score_checkpoint(model, task, options, out, n=n, ks=ks, limit=limit, temperature=temperature,
                             max_new_tokens=max_new_tokens, seed=seed, engine=engine, backend=backend)
    typer.echo(table.to_string(index=False))
    typer.echo(f"samples: {out / 'samples.jsonl'}")


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values:
        raise UserError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1,4")
    return values


@app.command("algorithms")
def list_algorithms():
    """List registered algorithms: unit, ratio, advantage, aggregation, defaults."""
    from harness.plugins import ALGORITHMS

    for name in ALGORITHMS.names():
        d = ALGORITHMS.get(name).describe()
        typer.echo(f"{name}: unit={d['unit']} ratio={d['ratio']} advantage={d['advantage']} "
                   f"aggregation={d['aggregation']} version={d['version']}")
        typer.echo(f"    defaults: {json.dumps(d['defaults'])}")


@app.command("tasks")
def list_tasks():
    """List registered tasks with their versions."""
    from harness.plugins import TASKS

    for name in TASKS.names():
        cls = TASKS.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        typer.echo(f"{name} (version {cls.version}): {doc}")


@app.command("leaderboard")
def leaderboard_cmd(results_dir: Path = typer.Argument(..., help="a suite's results directory")):
    """Rebuild leaderboard.csv/.md and curves.png from the per-run files of a results directory."""
    from harness import leaderboard

    if not results_dir.is_dir():
        raise UserError(f"results directory {results_dir} not found")
    table = leaderboard.write(results_dir)
    if table.empty:
        raise UserError(f"{results_dir} holds no finished run (runs/*/DONE)")
    typer.echo(table.to_string(index=False))


@app.command("compare")
def compare_cmd(results_dir: Path = typer.Argument(..., help="a suite's results directory"),
                baseline: str = typer.Option(..., "--baseline", help="the row every other row is compared with, e.g. grpo"),
                resamples: int = typer.Option(10_000, "--resamples", min=100, help="bootstrap resamples")):
    """Paired comparisons with a baseline: Δ pass@1 over (seed × problem) with a bootstrap interval, Holm-corrected
    p-values, probability of improvement and IQM; writes comparisons.csv and .md."""
    from harness import comparison

    if not results_dir.is_dir():
        raise UserError(f"results directory {results_dir} not found")
    table = comparison.write(results_dir, baseline, resamples=resamples)
    typer.echo(comparison.to_markdown(table))
    typer.echo(f"comparisons: {results_dir / 'comparisons.csv'}")


@app.command("publish")
def publish_cmd(results_dir: Path = typer.Argument(..., help="a suite's results directory"),
                to: Path = typer.Option(..., "--to", help="directory to write (replaced whole)")):
    """Write the leaderboard CSV/Markdown, curves.png and a manifest.json (versions, commit, hardware, configs)."""
    from harness.publish import publish

    publish(results_dir, to)
    typer.echo(f"published {results_dir} to {to}: {', '.join(sorted(p.name for p in to.iterdir()))}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
