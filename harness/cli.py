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

from harness.core.errors import Interrupted, UserError
from harness.core.logs import quiet_libraries

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
        seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds replacing the suite's, e.g. 0,1,2"),
        report_to: Optional[str] = typer.Option(None, "--report-to", help="comma-separated trackers replacing the suite's "
                                                "report_to: tensorboard, mlflow, wandb, trackio")):
    """Train every (algorithm × task × seed) of a suite, evaluate, and write the leaderboard."""
    from harness.core import distributed
    from harness.spec.config import load_suite
    from harness.suites.suite import run_suite

    trackers = [name.strip() for name in report_to.split(",") if name.strip()] if report_to is not None else None
    suite = load_suite(suite_file, seeds=_int_list(seeds, "--seeds") if seeds is not None else None, report_to=trackers)
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
    from harness.spec.config import load_suite
    from harness.suites.suite import check_names

    suite = load_suite(suite_file)
    runs = check_names(suite, load_data=not schema_only)
    typer.echo(f"{suite_file}: ok ({len(runs)} runs{', schema only: data not loaded' if schema_only else ''})")


@app.command("eval")
def eval_cmd(model: Optional[str] = typer.Option(None, "--model", help="HF model directory or hub id (default with --run: "
                                                 "the run's last checkpoint)"),
             task: str = typer.Option(..., "--task", help="a registered task, e.g. gsm8k"),
             run_dir: Optional[Path] = typer.Option(None, "--run", help="a run folder: its task options, sampling, n, k, "
                                                    "limit, seed and engine become the defaults, so a checkpoint scores as in the run"),
             n: Optional[int] = typer.Option(None, "--n", min=1, help="samples per problem (default 4)"),
             k: Optional[str] = typer.Option(None, "--k", help="comma-separated k for pass@k, each <= n (default 1)"),
             limit: Optional[int] = typer.Option(None, "--limit", min=1, help="score only the first N problems"),
             option: list[str] = typer.Option([], "--option", help="task option KEY=VALUE, e.g. path=data/gsm8k"),
             temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="sampling temperature (default 1.0)"),
             max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="tokens per completion (default 512)"),
             seed: Optional[int] = typer.Option(None, "--seed", help="sampling seed (default 0)"),
             engine: Optional[str] = typer.Option(None, "--engine", help="a registered engine: hf or vllm (default hf)"),
             backend: str = typer.Option("grainbench", "--backend", help="grainbench (an engine) or lm-eval"),
             out: Optional[Path] = typer.Option(None, "--out", help="output directory (default results/eval/<model path>-<task>)"),
             force: bool = typer.Option(False, "--force", help="replace an earlier evaluation in the output directory")):
    """Score any checkpoint on a task: per-sample JSONL plus a one-row summary (CSV and JSON)."""
    import yaml

    from harness.evaluation.evaluator import score_checkpoint

    settings = {"n": 4, "k": [1], "limit": None, "temperature": 1.0, "max_new_tokens": 512, "seed": 0, "engine": "hf", "options": {}}
    if run_dir is not None:
        settings.update(_run_settings(run_dir, task))
        model = model or _last_checkpoint(run_dir)
    if model is None:
        raise UserError("give --model (a checkpoint directory or hub id) or --run (a run folder)")
    given = {"n": n, "k": _int_list(k, "--k") if k is not None else None, "limit": limit, "temperature": temperature,
             "max_new_tokens": max_new_tokens, "seed": seed, "engine": engine}
    settings.update({key: value for key, value in given.items() if value is not None})
    if any(not 1 <= x <= settings["n"] for x in settings["k"]):
        raise UserError(f"--k {','.join(map(str, settings['k']))}: every k must be between 1 and --n ({settings['n']})")
    options = dict(settings["options"])
    for item in option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r}: expected KEY=VALUE, e.g. --option path=data/gsm8k")
        options[key] = yaml.safe_load(value)
    out = out or Path("results") / "eval" / f"{model.strip('./').replace('/', '__')}-{task}"
    if (out / "summary.json").exists() and not force:
        raise UserError(f"{out} already holds an evaluation; pass --out elsewhere, or --force to replace it")
    quiet_libraries()
    table = score_checkpoint(model, task, options, out, n=settings["n"], ks=settings["k"], limit=settings["limit"],
                             temperature=settings["temperature"], max_new_tokens=settings["max_new_tokens"],
                             seed=settings["seed"], engine=settings["engine"], backend=backend)
    typer.echo(table.to_string(index=False))
    typer.echo(f"samples: {out / 'samples.jsonl'}")


def _run_settings(run_dir: Path, task: str) -> dict:
    """What a run evaluated with, from its config.yaml."""
    from harness.spec.config import RunSpec

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"--run {run_dir}: no config.yaml there; pass a run folder such as results/quick/runs/<run_id>")
    import yaml

    spec = RunSpec.model_validate(yaml.safe_load(path.read_text()))
    return {"n": spec.eval.n, "k": spec.eval.k, "limit": spec.eval.limit, "temperature": spec.eval.temperature,
            "max_new_tokens": spec.eval.max_new_tokens or spec.rollout.max_new_tokens, "seed": spec.seed,
            "engine": spec.engine.name, "options": spec.tasks.options.get(task, {})}


def _last_checkpoint(run_dir: Path) -> str:
    found = sorted((run_dir / "checkpoints").glob("step_*"))
    if not found:
        raise UserError(f"--run {run_dir}: no checkpoints/step_* there yet; give --model")
    return str(found[-1])


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
    """List registered algorithms: unit, ratio, trust region, advantage, aggregation, defaults."""
    from harness.spec.plugins import ALGORITHMS

    for name in ALGORITHMS.names():
        d = ALGORITHMS.get(name).describe()
        typer.echo(f"{name}: unit={d['unit']} ratio={d['ratio']} trust_region={d['trust']!r} advantage={d['advantage']} "
                   f"aggregation={d['aggregation']} version={d['version']}")
        typer.echo(f"    defaults: {json.dumps(d['defaults'])}")


@app.command("tasks")
def list_tasks():
    """List registered tasks with their versions."""
    from harness.spec.plugins import TASKS

    for name in TASKS.names():
        cls = TASKS.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        if doc.startswith(f"{cls.__name__}("):  # a dataclass's generated signature is no description
            doc = "(no description)"
        typer.echo(f"{name} (version {cls.version}): {doc}")


@app.command("leaderboard")
def leaderboard_cmd(results_dir: Path = typer.Argument(..., help="a suite's results directory")):
    """Rebuild leaderboard.csv/.md and curves.png from the per-run files of a results directory."""
    from harness.results import leaderboard

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
    from harness.results import comparison

    if not results_dir.is_dir():
        raise UserError(f"results directory {results_dir} not found")
    table = comparison.write(results_dir, baseline, resamples=resamples)
    typer.echo(comparison.to_markdown(table))
    typer.echo(f"comparisons: {results_dir / 'comparisons.csv'}")


@app.command("publish")
def publish_cmd(results_dir: Path = typer.Argument(..., help="a suite's results directory"),
                to: Path = typer.Option(..., "--to", help="directory to write (replaced whole)")):
    """Write the leaderboard CSV/Markdown, curves.png and a manifest.json (versions, commit, hardware, configs)."""
    from harness.results.publish import publish

    publish(results_dir, to)
    typer.echo(f"published {results_dir} to {to}: {', '.join(sorted(p.name for p in to.iterdir()))}")


@app.command("diagnose")
def diagnose_cmd(target: Path = typer.Argument(..., help="a suite YAML (diagnosed at its base) or a checkpoint directory"),
                 suite_file: Path = typer.Option(Path("suites/horizon.yaml"), "--suite",
                                                 help="with a checkpoint: the suite whose algorithms, task and settings to use"),
                 out: Optional[Path] = typer.Option(None, "--out", help="output directory (default results/diagnose/<suite>)"),
                 cache: Path = typer.Option(DEFAULT_CACHE, "--cache", help="where warm-started base models are cached"),
                 minibatches: int = typer.Option(8, "--minibatches", min=2, help="minibatch gradients per algorithm"),
                 updates: Optional[int] = typer.Option(None, "--updates", min=1, help="U: updates on one rollout batch "
                                                       "(default the suite's train.updates_per_batch)"),
                 reference_prompts: int = typer.Option(64, "--reference-prompts", min=1),
                 reference_samples: int = typer.Option(16, "--reference-samples", min=2),
                 probe_prompts: int = typer.Option(32, "--probe-prompts", min=1, help="problems the expected reward is measured on"),
                 seed: int = typer.Option(0, "--seed")):
    """Gradient quality, off-policy behaviour and credit placement of every algorithm of a suite on the
    same rollouts at one checkpoint: diagnose.csv and diagnose.png."""
    from harness.diagnostics.diagnose import Settings, diagnose
    from harness.spec.config import load_suite
    from harness.suites.suite import resolve_base

    quiet_libraries()
    if target.is_dir():
        if not (target / "config.json").is_file():
            raise UserError(f"{target} is not a checkpoint directory (no config.json); pass a suite YAML or a model folder")
        checkpoint, suite = target, load_suite(suite_file)
    else:
        suite = load_suite(target)
        checkpoint, _ = resolve_base(suite, cache)
    settings = Settings(minibatches=minibatches, updates=updates, reference_prompts=reference_prompts,
                        reference_samples=reference_samples, probe_prompts=probe_prompts, seed=seed)
    out = out or Path("results") / "diagnose" / suite.name
    table = diagnose(suite, Path(checkpoint), out, settings)
    summary = table[table["update"].isna()].pivot(index="algorithm", columns="measure", values="value")
    typer.echo(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"diagnosis: {out / 'diagnose.csv'}, {out / 'diagnose.png'}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except Interrupted:
        typer.echo("interrupted; re-run the same command to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
