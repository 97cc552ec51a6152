"""Paired comparisons against a baseline row: is algorithm A better than B, and by how much?

Per-row intervals that overlap say little; the rows of a suite share seeds and eval problems, so
the question is answered on paired differences. For every row A and the baseline B, per eval task
and `overall` (all tasks' problems pooled):

- `diff`: mean over (seed × problem) of pass@1(A) − pass@1(B), each problem's pass@1 the mean over
  its n samples at the final evaluation; a 95 % percentile interval from a crossed bootstrap that
  resamples seeds and problems (both are samples from larger populations);
- `p_value`: bootstrap test of diff = 0, and `p_holm`, Holm-corrected across the family of rows
  (per task), so the chance of calling any A/A pair different stays at 5 %;
- `prob_improvement`: P(A > B) over pairs of runs (Mann–Whitney, ties ½), averaged over tasks, as
  rliable defines it (Agarwal et al., 2021); `iqm`: the interquartile mean of per-run pass@1 over
  tasks × seeds, rliable's robust aggregate, for A and B.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from harness.core import atomic
from harness.core.atomic import read_jsonl
from harness.core.errors import UserError
from harness.results.leaderboard import OVERALL, summaries

RESAMPLES = 10_000


def problem_scores(results_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """pass@1 per (row, seed, task, problem) at each run's final evaluation."""
    frames = []
    for s in summaries(results_dir, run_ids):
        step = s["curve"][-1]["step"] if s.get("curve") else s["steps"]
        for task in s["eval"]:
            records = pd.DataFrame(read_jsonl(Path(results_dir) / "runs" / s["run_id"] / "eval" / f"step_{step:06d}-{task}.jsonl"))
            per_problem = records.groupby("problem_id")["correct"].mean().rename("pass@1").reset_index()
            frames.append(per_problem.assign(algorithm=s["label"], seed=s["seed"], task=task))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def paired(scores: pd.DataFrame, a: str, b: str, tasks: list[str]) -> np.ndarray:
    """(seeds × problems) matrix of pass@1(a) − pass@1(b) over the seeds and problems both have."""
    part = scores[scores["task"].isin(tasks)]
    wide = [part[part["algorithm"] == x].pivot_table(index="seed", columns=["task", "problem_id"], values="pass@1")
            for x in (a, b)]
    seeds = wide[0].index.intersection(wide[1].index)
    problems = wide[0].columns.intersection(wide[1].columns)
    return (wide[0].loc[seeds, problems] - wide[1].loc[seeds, problems]).to_numpy(dtype=float)


def crossed_bootstrap(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `d` over seeds and problems both resampled with replacement, `resamples` times."""
    s, p = d.shape
    seeds = rng.multinomial(s, np.full(s, 1 / s), size=resamples)
    problems = rng.multinomial(p, np.full(p, 1 / p), size=resamples)
    return np.einsum("bs,sp,bp->b", seeds, d, problems) / (s * p)


def paired_test(d: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Mean of the paired differences `d` (seeds × problems), its 95 % crossed-bootstrap interval, and the
    bootstrap p-value of a zero mean."""
    mean = float(d.mean())
    boot = crossed_bootstrap(d, resamples, rng)
    low, high = np.percentile(boot, [2.5, 97.5])
    p = (1 + np.sum(np.abs(boot - mean) >= abs(mean) - 1e-12)) / (resamples + 1)
    return mean, float(low), float(high), float(p)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out.tolist()


def probability_of_improvement(run_scores: pd.DataFrame, a: str, b: str, tasks: list[str]) -> float:
    """rliable's P(A > B): per task, over all pairs of an A run and a B run (ties count ½), averaged."""
    values = []
    for task in tasks:
        x = run_scores.loc[(run_scores["algorithm"] == a) & (run_scores["task"] == task), "pass@1"].to_numpy()
        y = run_scores.loc[(run_scores["algorithm"] == b) & (run_scores["task"] == task), "pass@1"].to_numpy()
        if len(x) and len(y):
            values.append(float(np.mean((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :]))))
    return float(np.mean(values)) if values else float("nan")


def iqm(run_scores: pd.DataFrame, algorithm: str) -> float:
    """Interquartile mean of per-run pass@1 over tasks × seeds."""
    return float(stats.trim_mean(run_scores.loc[run_scores["algorithm"] == algorithm, "pass@1"], 0.25))


def compare(results_dir: Path, baseline: str, run_ids: list[str] | None = None, resamples: int = RESAMPLES,
            seed: int = 0) -> pd.DataFrame:
    scores = problem_scores(results_dir, run_ids)
    if scores.empty:
        raise UserError(f"{results_dir} holds no finished run (runs/*/DONE) to compare")
    rows_found = sorted(scores["algorithm"].unique())
    if baseline not in rows_found:
        raise UserError(f"baseline {baseline!r} is not a row of {results_dir}; rows: {', '.join(rows_found)}")
    run_scores = scores.groupby(["algorithm", "seed", "task"])["pass@1"].mean().reset_index()
    tasks = sorted(scores["task"].unique())
    scopes = [(t, [t]) for t in tasks] + ([(OVERALL, tasks)] if len(tasks) > 1 else [])
    rng = np.random.default_rng(seed)
    out = []
    for scope, members in scopes:
        block = []
        for a in (x for x in rows_found if x != baseline):
            d = paired(scores, a, baseline, members)
            if d.size == 0:
                continue
            mean, low, high, p = paired_test(d, resamples, rng)
            block.append({"algorithm": a, "baseline": baseline, "task": scope, "seeds": d.shape[0], "problems": d.shape[1],
                          "diff": mean, "ci_low": low, "ci_high": high, "p_value": p,
                          "prob_improvement": probability_of_improvement(run_scores, a, baseline, members),
                          "iqm": iqm(run_scores[run_scores["task"].isin(members)], a),
                          "baseline_iqm": iqm(run_scores[run_scores["task"].isin(members)], baseline)})
        for row, adjusted in zip(block, holm([r["p_value"] for r in block])):
            row["p_holm"] = adjusted
            row["significant"] = adjusted < 0.05
        out += block
    columns = ["algorithm", "baseline", "task", "seeds", "problems", "diff", "ci_low", "ci_high", "p_value", "p_holm",
               "significant", "prob_improvement", "iqm", "baseline_iqm"]
    return pd.DataFrame(out, columns=columns)


def to_markdown(table: pd.DataFrame) -> str:
    header = ["algorithm", "task", "Δ pass@1 vs " + (table["baseline"].iloc[0] if len(table) else "baseline"),
              "95 % interval", "p (Holm)", "P(A > B)", "IQM", "seeds × problems"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in table.iterrows():
        mark = " *" if r["significant"] else ""
        lines.append(f"| {r['algorithm']} | {r['task']} | {r['diff']:+.3f}{mark} | [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] "
                     f"| {r['p_holm']:.3g} | {r['prob_improvement']:.2f} | {r['iqm']:.3f} vs {r['baseline_iqm']:.3f} "
                     f"| {r['seeds']} × {r['problems']} |")
    return "\n".join(lines) + ("\n\nPaired over (seed × eval problem), final evaluation; interval: crossed bootstrap over "
                               "seeds and problems; * = Holm-corrected p < 0.05 across the rows; P(A > B) and IQM over "
                               "runs (tasks × seeds) as in rliable.\n")


def write(results_dir: Path, baseline: str, run_ids: list[str] | None = None, resamples: int = RESAMPLES) -> pd.DataFrame:
    """comparisons.csv and comparisons.md in `results_dir` (of `run_ids`, default: the folder's suite's)."""
    from harness.results.leaderboard import suite_run_ids

    table = compare(results_dir, baseline, run_ids if run_ids is not None else suite_run_ids(results_dir), resamples)
    atomic.write_text(Path(results_dir) / "comparisons.csv", table.to_csv(index=False, float_format="%.6g"))
    atomic.write_text(Path(results_dir) / "comparisons.md", to_markdown(table))
    return table
