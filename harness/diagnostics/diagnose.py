"""`grainbench diagnose`: why a granularity wins here — the mechanism, measured on the same rollouts.

At one checkpoint (a suite's base by default) and for every algorithm setting of a suite:
- gradient quality: the cosine between each algorithm's minibatch gradient and a reference policy
  gradient estimated from many more samples (unbiased REINFORCE with a leave-one-out baseline: the
  gradient of the expected reward itself), and the gradient signal-to-noise ratio across minibatches.
  A row `reinforce` applies the reference estimator to the same minibatches;
- off-policy behaviour: U minibatch updates on one rollout batch, as training makes them (no
  learning-rate warm-up: a mid-training update), with the clip fraction and kl_old of each and the
  expected reward after each, measured on fresh samples of a fixed probe set (the same seeds for every
  algorithm);
- credit placement, on tasks that know their intermediate values (`chain`): over wrong responses,
  the share of the first update's downward push that lands at or after the first wrong step, beside
  the share of tokens there (what credit spread evenly gives).
Every algorithm sees the same rollouts; DAPO-style group filtering is not applied (the batch is
fixed). Writes diagnose.csv (long form: algorithm, measure, update, value) and diagnose.png.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from algorithms.advantages import leave_one_out
from harness.core import atomic
from harness.diagnostics.measures import (
    cosine,
    credit_after_error,
    on_policy_push,
    signal_to_noise,
    token_index_of_char,
)
from harness.spec.config import RunSpec, Suite
from harness.spec.plugins import algorithm_of, make_engine, task_of
from harness.suites.suite import check_names
from harness.training.budget import Budget
from harness.training.embedded import load_checkpoint
from harness.training.policy import response_logprobs, right_pad
from harness.training.trainer import Rollout, Trainer

log = logging.getLogger(__name__)
REFERENCE = "reinforce"  # the unbiased estimator, applied to the minibatches as a row of its own


@dataclass(frozen=True)
class Settings:
    minibatches: int = 8  # minibatch gradients per algorithm (each as large as one training minibatch)
    updates: int | None = None  # U; default: the suite's train.updates_per_batch
    reference_prompts: int = 64
    reference_samples: int = 16
    probe_prompts: int = 32
    probe_samples: int = 4
    seed: int = 0


class Probe:
    """One checkpoint, its task and sampler: fresh copies of the weights for every algorithm."""

    def __init__(self, suite: Suite, checkpoint: Path, settings: Settings):
        self.suite, self.checkpoint, self.settings = suite, checkpoint, settings
        self.task = task_of(suite.tasks.train, suite.tasks)
        self.tokenizer, self.model = load_checkpoint(checkpoint)
        self.engine = make_engine(suite.engine, self.model, self.tokenizer)

    def trainer(self, run: RunSpec, fresh: bool = False) -> Trainer:
        model = load_checkpoint(self.checkpoint)[1] if fresh else self.model
        engine = make_engine(self.suite.engine, model, self.tokenizer) if fresh else self.engine
        train = run.train.model_copy(update={"warmup_steps": 0})
        budget = Budget("flops", 1e30, sum(p.numel() for p in model.parameters()))  # diagnosing spends no budget
        return Trainer(model=model, tokenizer=self.tokenizer, engine=engine, task=self.task, algorithm=algorithm_of(run),
                       rollout_cfg=run.rollout, train_cfg=train, budget=budget, seed=self.settings.seed)

    def rollout(self, trainer: Trainer, prompts: int, samples: int, stream: str) -> Rollout:
        rng = random.Random(f"{self.settings.seed}-{stream}")
        return trainer.sample(self.task.train_problems(prompts, rng), samples, rng)

    def expected_reward(self, trainer: Trainer) -> float:
        """Mean reward of fresh samples on the fixed probe set (same problems and seed every time)."""
        rng = random.Random(f"{self.settings.seed}-probe")
        problems = self.task.train_problems(self.settings.probe_prompts, rng)
        trainer.engine.sync_weights(trainer.model)
        rollout = trainer.sample(problems, self.settings.probe_samples, random.Random(f"{self.settings.seed}-probe-seeds"))
        return float(sum(s.reward for s in rollout.scores) / len(rollout.scores))


def flat_gradient(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in model.parameters()])


def minibatch_gradient(trainer: Trainer, batch, prompts: list[list[int]]) -> torch.Tensor:
    """−∇ of the algorithm's loss on `batch` at the current weights: the direction its update takes."""
    model, algorithm = trainer.model, trainer.algorithm
    model.zero_grad(set_to_none=True)
    logp, entropy = response_logprobs(model, prompts, batch.response_ids, batch.mask, trainer.tokenizer.pad_token_id,
                                      trainer.rollout_cfg.temperature, with_entropy=algorithm.needs_current_entropy)
    ref = logp.detach() if algorithm.needs_reference else None  # at the checkpoint the reference is the policy
    loss, _ = algorithm.loss(logp, batch, ref, new_entropy=entropy.detach() if entropy is not None else None)
    loss.backward()
    return -flat_gradient(model)


def reinforce_gradient(trainer: Trainer, rollout: Rollout, group_size: int, chunk: int = 64) -> torch.Tensor:
    """Unbiased ∇ E[reward]: mean over responses of (r − mean of the group's others)·∇ log π(response)."""
    model, pad = trainer.model, trainer.tokenizer.pad_token_id
    rewards = torch.tensor([s.reward for s in rollout.scores], dtype=torch.float32)
    advantages = leave_one_out(rewards, torch.arange(len(rewards)) // group_size)
    ids, mask = right_pad([g.response_ids for g in rollout.generations], pad)
    model.zero_grad(set_to_none=True)
    for start in range(0, len(advantages), chunk):
        rows = slice(start, start + chunk)
        logp, _ = response_logprobs(model, rollout.prompts[rows], ids[rows], mask[rows], pad, trainer.rollout_cfg.temperature)
        (-(advantages[rows] * logp.sum(1)).sum() / len(advantages)).backward()
    return -flat_gradient(model)


def _rows(rollout: Rollout, rows: range) -> Rollout:
    return Rollout(*[[column[i] for i in rows] for column in rollout.columns()])


def first_wrong_tokens(probe: Probe, rollout: Rollout) -> list[int | None] | None:
    """Per response, the token where its first wrong step starts (None if right); None for tasks that cannot tell."""
    find = getattr(probe.task, "first_wrong_step", None)
    if find is None:
        return None
    out = []
    for problem, generation in zip(rollout.problems, rollout.generations):
        text = probe.tokenizer.decode(generation.response_ids, skip_special_tokens=True)
        step = find(problem, text)
        if step is None:
            out.append(None)
            continue
        spans = probe.task.step_spans(text)
        char = spans[step][0] if step < len(spans) else len(text)
        out.append(token_index_of_char(probe.tokenizer, generation.response_ids, char))
    return out


def diagnose(suite: Suite, checkpoint: Path, out_dir: Path, settings: Settings = Settings()) -> pd.DataFrame:
    runs = check_names(suite)
    runs = [run for run in runs if run.seed == runs[0].seed]  # one per setting
    probe = Probe(suite, checkpoint, settings)
    first = probe.trainer(runs[0])
    cfg = runs[0].rollout
    group, updates = cfg.samples_per_prompt, settings.updates or runs[0].train.updates_per_batch
    per_minibatch = max(1, cfg.prompts_per_step // runs[0].train.updates_per_batch)
    shared = probe.rollout(first, max(per_minibatch * settings.minibatches, cfg.prompts_per_step), group, "shared")
    reference = probe.rollout(first, settings.reference_prompts, settings.reference_samples, "reference")
    g_ref = reinforce_gradient(first, reference, settings.reference_samples)
    errors = first_wrong_tokens(probe, shared)
    base_reward = probe.expected_reward(first)
    counts = {"minibatch_responses": per_minibatch * group, "minibatches": settings.minibatches,
              "reference_responses": settings.reference_prompts * settings.reference_samples}
    rows = []

    def record(label, measure, value, update=None):
        rows.append({"algorithm": label, "measure": measure, "update": update, "value": value, **counts})

    minibatch_rows = [range(m * per_minibatch * group, (m + 1) * per_minibatch * group) for m in range(settings.minibatches)]
    reinforce = [reinforce_gradient(first, _rows(shared, r), group) for r in minibatch_rows]
    _gradient_rows(record, REFERENCE, reinforce, g_ref)
    for run in runs:
        log.info("diagnosing %s", run.label)
        trainer = probe.trainer(run)
        batch = trainer.algorithm.prepare(trainer.to_batch(shared, group), trainer.value_estimator(shared))
        grads = [minibatch_gradient(trainer, batch.select(torch.tensor(list(r))), [shared.prompts[i] for i in r])
                 for r in minibatch_rows]
        _gradient_rows(record, run.label, grads, g_ref)
        if errors is not None:
            push = on_policy_push(trainer.algorithm, batch)
            after, tokens_after = credit_after_error(push, batch.mask, errors)
            record(run.label, "credit_after_error", after)
            record(run.label, "tokens_after_error", tokens_after)
        _off_policy_rows(record, probe, run, _rows(shared, range(cfg.prompts_per_step * group)), updates, base_reward)
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / "diagnose.csv", table.to_csv(index=False))
    plot(table, out_dir / "diagnose.png")
    return table


def _gradient_rows(record, label: str, grads: list[torch.Tensor], g_ref: torch.Tensor) -> None:
    cosines = torch.tensor([cosine(g, g_ref) for g in grads])
    record(label, "gradient_cosine", float(cosines.mean()))
    record(label, "gradient_cosine_sd", float(cosines.std()))
    record(label, "gradient_snr", signal_to_noise(grads))


def _off_policy_rows(record, probe: Probe, run: RunSpec, rollout: Rollout, updates: int, base_reward: float) -> None:
    """U minibatch updates on one rollout batch (a training step's) from fresh weights; metrics per
    update and the reward after it."""
    trainer = probe.trainer(run, fresh=True)
    batch = trainer.algorithm.prepare(trainer.to_batch(rollout, run.rollout.samples_per_prompt), trainer.value_estimator(rollout))
    order = torch.randperm(batch.size, generator=torch.Generator().manual_seed(probe.settings.seed))
    splits = 1 if trainer.algorithm.on_policy_only else updates
    record(run.label, "reward", base_reward, 0)
    for u, idx in enumerate(torch.tensor_split(order, splits), start=1):
        _, metrics = trainer.update(batch.select(idx), [rollout.prompts[i] for i in idx.tolist()], first=u == 1)
        reward = probe.expected_reward(trainer)
        record(run.label, "clip_frac", metrics.get("clip_frac", 0.0), u)
        record(run.label, "kl_old", metrics.get("kl_old", 0.0), u)
        record(run.label, "reward", reward, u)
        record(run.label, "reward_change", reward - base_reward, u)


def plot(table: pd.DataFrame, path: Path) -> None:
    """One panel per measure, algorithms side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    labels = list(dict.fromkeys(table["algorithm"]))
    colours = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}

    def bars(ax, measure, title, error=None, line=None):
        part = table[table["measure"] == measure].set_index("algorithm")["value"]
        err = table[table["measure"] == error].set_index("algorithm")["value"].reindex(part.index) if error else None
        ax.bar(range(len(part)), part.values, yerr=None if err is None else err.values, color=[colours[a] for a in part.index])
        ax.set_xticks(range(len(part)), part.index, rotation=45, ha="right", fontsize=8)
        if line is not None and not table[table["measure"] == line].empty:
            ax.scatter(range(len(part)), table[table["measure"] == line].set_index("algorithm")["value"].reindex(part.index),
                       marker="_", s=400, color="black", label="share of tokens there")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)

    def curves(ax, measure, title):
        part = table[table["measure"] == measure]
        for label, rows in part.groupby("algorithm", sort=False):
            ax.plot(rows["update"], rows["value"], marker="o", label=label, color=colours[label])
        ax.set_xlabel("update on one rollout batch")
        ax.set_title(title, fontsize=10)

    counts = table.iloc[0]
    bars(axes[0, 0], "gradient_cosine", f"cosine to the reference gradient\n({counts.minibatch_responses} responses per "
         f"minibatch, reference {counts.reference_responses})", error="gradient_cosine_sd")
    bars(axes[0, 1], "gradient_snr", f"gradient signal-to-noise ({counts.minibatches} minibatches)")
    bars(axes[0, 2], "credit_after_error", "share of the downward push at/after the first wrong step", line="tokens_after_error")
    curves(axes[1, 0], "clip_frac", "clip fraction")
    curves(axes[1, 1], "kl_old", "kl_old")
    curves(axes[1, 2], "reward_change", "change in expected reward (fresh samples)")
    axes[1, 2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
