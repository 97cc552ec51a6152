"""The RL loop of one run: sample → score → prepare → minibatch updates → charge → log, until the budget is spent.

The loop knows nothing of any particular algorithm: it hands the rollout batch to
`algorithm.prepare` once and `algorithm.loss` per minibatch. Several minibatch updates per rollout
batch make later minibatches off-policy, the only regime in which ratio granularity matters.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from algorithms.batch import RolloutBatch
from harness.core import atomic, distributed
from harness.core.errors import Interrupted, UserError
from harness.engines.base import Generation, SamplingParams
from harness.training.budget import Budget
from harness.training.policy import encode_prompt, response_logprobs, right_pad

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """Loss or gradient became NaN/inf: the run stops and is not marked finished."""


@dataclass
class Rollout:
    """One step's samples in the flat order of the rollout batch's rows."""

    problems: list
    prompts: list[list[int]]
    generations: list[Generation]
    scores: list

    def extend(self, other: "Rollout", rows: slice) -> None:
        for mine, theirs in zip(self.columns(), other.columns()):
            mine.extend(theirs[rows])

    def truncate(self, size: int) -> None:
        for column in self.columns():
            del column[size:]

    def columns(self) -> tuple[list, ...]:
        return self.problems, self.prompts, self.generations, self.scores


class RandomStreams:
    """Common random numbers: one seeded stream per source of randomness, so that for one seed every
    algorithm draws the same prompt sequence and sampling seeds step for step, whatever else it draws
    (DAPO's refills, SPO's Monte-Carlo continuations)."""

    NAMES = ("prompts", "sampling", "refill", "montecarlo")

    def __init__(self, seed):
        for name in self.NAMES:
            setattr(self, name, random.Random(f"{seed}-{name}"))

    def state(self) -> dict:
        return {name: getattr(self, name).getstate() for name in self.NAMES}

    def restore(self, state: dict) -> None:
        for name in self.NAMES:
            getattr(self, name).setstate(state[name])


class Trainer:
    def __init__(self, *, model, tokenizer, engine, task, algorithm, rollout_cfg, train_cfg, budget: Budget,
                 seed: int, on_step: Callable[[dict], None] | None = None):
        self.model, self.tokenizer, self.engine, self.task, self.algorithm = model, tokenizer, engine, task, algorithm
        self.rollout_cfg, self.train_cfg, self.budget = rollout_cfg, train_cfg, budget
        self.world = distributed.world()
        self.streams = RandomStreams(seed if self.world == 1 else f"{seed}-rank{distributed.rank()}")
        self.torch_gen = torch.Generator().manual_seed(seed)
        self.reference = copy.deepcopy(model).eval().requires_grad_(False) if algorithm.needs_reference else None
        # data parallel when launched under torchrun (or any initialised process group): each process
        # trains on its own rollouts and DDP sums the gradients
        if self.world > 1 and rollout_cfg.prompts_per_step % self.world:
            raise UserError(f"rollout.prompts_per_step ({rollout_cfg.prompts_per_step}) must divide evenly over "
                             f"{self.world} data-parallel processes")
        self.prompts_per_step = rollout_cfg.prompts_per_step // self.world
        # `model` is what samples and is evaluated; `policy` is what the optimizer trains: the same
        # weights under DDP, a sharded copy under FSDP whose whole weights are copied back after each step
        self.sharded = self.world > 1 and train_cfg.parallel == "fsdp"
        if self.sharded:
            self.policy = distributed.shard(copy.deepcopy(model))
        else:
            self.policy = torch.nn.parallel.DistributedDataParallel(model) if self.world > 1 else model
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
        # Adam's first updates are sign-like at full size: warm up so they cannot wreck a small model.
        warmup = max(1, train_cfg.warmup_steps)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda i: min(1.0, (i + 1) / warmup))
        self.on_step = on_step
        self.stop_requested = False  # set by a signal handler: finish the step, save, stop
        self.metrics: list[dict] = []
        self.params = SamplingParams(rollout_cfg.max_new_tokens, rollout_cfg.temperature, rollout_cfg.top_p)

    # --- rollouts -------------------------------------------------------------------------
    def sample(self, problems: list, n: int, seeds: random.Random) -> Rollout:
        prompts = [encode_prompt(self.tokenizer, p.prompt, p.chat) for p in problems]
        groups = self.engine.generate(prompts, n, self.params, seeds.randrange(2**31))
        gens = [g for group in groups for g in group]
        self.budget.charge(generated=sum(len(g.response_ids) for g in gens),
                           forwarded=sum(len(g.prompt_ids) for g in gens))
        flat_problems = [p for p in problems for _ in range(n)]
        scores = self.task.score_many(flat_problems, [self.decode(g) for g in gens])
        return Rollout(flat_problems, [g.prompt_ids for g in gens], gens, scores)

    def decode(self, g: Generation) -> str:
        return self.tokenizer.decode(g.response_ids, skip_special_tokens=True)

    def to_batch(self, rollout: Rollout, group_size: int) -> RolloutBatch:
        ids, mask = right_pad([g.response_ids for g in rollout.generations], self.tokenizer.pad_token_id)
        old_logp, _ = right_pad([g.logprobs for g in rollout.generations], 0.0, torch.float32)
        if self.train_cfg.mixed_precision != "no" or (self.params.top_p < 1 and not getattr(self.engine, "logprobs_before_top_p", True)):
            old_logp = self.behaviour_logprobs(rollout.prompts, ids, mask)
        entropy, _ = right_pad([g.entropies for g in rollout.generations], 0.0, torch.float32)
        if self.algorithm.needs_entropy and any(len(g.entropies) != len(g.response_ids) for g in rollout.generations):
            entropy = self.behaviour_entropy(rollout.prompts, ids, mask)
        rows = len(rollout.generations)
        return RolloutBatch(
            response_ids=ids, mask=mask, old_logp=old_logp, entropy=entropy,
            rewards=torch.tensor([s.reward for s in rollout.scores], dtype=torch.float32),
            group=torch.arange(rows) // group_size, max_new_tokens=self.rollout_cfg.max_new_tokens,
        )

    def autocast(self):
        """bf16 autocast for forward passes under `train.mixed_precision: bf16` (weights stay float32)."""
        device = next(self.model.parameters()).device.type
        return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=self.train_cfg.mixed_precision == "bf16")

    @torch.no_grad()
    def behaviour_logprobs(self, prompts: list[list[int]], ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Untruncated log-probs of the sampled tokens under the sampling policy, for an engine that
        records them after top-p (vLLM), or under mixed precision: the ratio's denominator must be what
        the numerator recomputes. One no-grad forward, charged."""
        with self.autocast():
            logp, _ = response_logprobs(self.model, prompts, ids, mask, self.tokenizer.pad_token_id, self.rollout_cfg.temperature)
        self.budget.charge(forwarded=int(mask.sum()) + sum(len(p) for p in prompts))
        return logp.float().cpu().masked_fill(~mask, 0.0)

    @torch.no_grad()
    def behaviour_entropy(self, prompts: list[list[int]], ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token entropy of the sampling policy, for engines that return none (vLLM); charged as a forward."""
        _, entropy = response_logprobs(self.model, prompts, ids, mask, self.tokenizer.pad_token_id,
                                       self.rollout_cfg.temperature, with_entropy=True)
        self.budget.charge(forwarded=int(mask.sum()) + sum(len(p) for p in prompts))
        return entropy.float().cpu().masked_fill(~mask, 0.0)

    # --- one step ---------------------------------------------------------------------------
    def collect(self) -> tuple[Rollout, list]:
        """A rollout batch and the scores of everything sampled for it; for algorithms that filter
        groups (DAPO), refilled with fresh prompts until the batch — over all processes — is full."""
        cfg = self.rollout_cfg
        need = self.prompts_per_step * cfg.samples_per_prompt  # this process's share
        kept, sampled = Rollout([], [], [], []), []
        for round_ in range(self.algorithm.sampling_rounds()):
            # refills draw from their own stream: the main prompt sequence stays step-aligned across algorithms
            prompts, seeds = (self.streams.prompts, self.streams.sampling) if round_ == 0 else (self.streams.refill,) * 2
            rollout = self.sample(self.task.train_problems(self.prompts_per_step, prompts), cfg.samples_per_prompt, seeds)
            if round_ == 0:  # a digest of the step's prompts: common random numbers are checkable in metrics.jsonl
                ids = "".join(p.id for p in rollout.problems[:: cfg.samples_per_prompt])
                self.last_prompts = hashlib.sha1(ids.encode()).hexdigest()[:12]
            sampled.extend(rollout.scores)
            for g in range(self.prompts_per_step):
                rows = slice(g * cfg.samples_per_prompt, (g + 1) * cfg.samples_per_prompt)
                if self.algorithm.keep_group([s.correct for s in rollout.scores[rows]]):
                    kept.extend(rollout, rows)
            if distributed.all_sum([len(kept.generations)])[0] >= need * self.world:
                break
        if self.world > 1 and distributed.all_sum([len(kept.generations) != need])[0]:
            return self.rebalance(kept), sampled
        kept.truncate(need)
        return kept, sampled

    def rebalance(self, kept: Rollout) -> Rollout:
        """Filtering left processes with unequal numbers of groups: pool them, cut the pool to one
        batch as a single process would, and give each process an equal share (±1 group), so all make
        the same number of updates. Fewer groups than processes: nobody updates this step."""
        g = self.rollout_cfg.samples_per_prompt
        pool = Rollout([], [], [], [])
        for part in distributed.all_gather_objects(kept):
            pool.extend(part, slice(None))
        pool.truncate(self.rollout_cfg.prompts_per_step * g)
        groups = len(pool.generations) // g
        share = Rollout([], [], [], [])
        if groups >= self.world:
            r = distributed.rank()
            share.extend(pool, slice(r * groups // self.world * g, (r + 1) * groups // self.world * g))
        return share

    def value_estimator(self, rollout: Rollout):
        """Monte-Carlo values for the algorithm: continue response prefixes through the engine, score, average."""
        limit = self.rollout_cfg.max_new_tokens

        def estimate(prefixes: list[tuple[int, int]], n: int) -> torch.Tensor:
            heads = [rollout.generations[r].response_ids[:cut] for r, cut in prefixes]
            # each continuation stops where the response would have (its own limit), and nothing
            # follows an EOS: those prefixes are scored as they are, with nothing generated or charged
            ended = [bool(head) and head[-1] == self.tokenizer.eos_token_id for head in heads]
            todo = [i for i, (done, (_, cut)) in enumerate(zip(ended, prefixes)) if not done and cut < limit]
            groups = self.engine.generate([rollout.prompts[prefixes[i][0]] + heads[i] for i in todo], n, self.params,
                                          self.streams.montecarlo.randrange(2**31),
                                          limits=[limit - prefixes[i][1] for i in todo]) if todo else []
            tails = {i: [g.response_ids for g in group] for i, group in zip(todo, groups)}
            for group in groups:
                for g in group:
                    self.budget.charge(generated=len(g.response_ids), forwarded=len(g.prompt_ids), monte_carlo=True)
            problems, texts = [], []
            for i, (r, _) in enumerate(prefixes):
                for tail in tails.get(i, [[]] * n):
                    problems.append(rollout.problems[r])
                    texts.append(self.tokenizer.decode(heads[i] + tail, skip_special_tokens=True))
            rewards = torch.tensor([s.reward for s in self.task.score_many(problems, texts)], dtype=torch.float32)
            return rewards.view(len(prefixes), n).mean(dim=1)

        return estimate

    def step(self, step: int) -> dict:
        rollout, sampled = self.collect()
        # reward and pass rate over everything sampled, so a filtering algorithm is not flattered
        seen = {"reward": float(np.mean([s.reward for s in sampled])), "pass_rate": float(np.mean([s.correct for s in sampled])),
                "prompts": self.last_prompts}
        if not rollout.generations:  # every group was filtered out: the rollouts still cost budget
            return {"step": step, **seen, "loss": 0.0, "updates": 0, "groups": 0, **self.budget.snapshot()}
        batch = self.algorithm.prepare(self.to_batch(rollout, self.rollout_cfg.samples_per_prompt),
                                       self.value_estimator(rollout))
        updates, epochs = (1, 1) if self.algorithm.on_policy_only else (self.train_cfg.updates_per_batch, self.train_cfg.epochs)
        splits = int(distributed.all_min(min(updates, batch.size)))  # every process makes the same updates
        losses, stats = [], []
        for _ in range(epochs):
            order = torch.randperm(batch.size, generator=self.torch_gen)
            for idx in torch.tensor_split(order, splits):
                loss, m = self.update(batch.select(idx), [rollout.prompts[i] for i in idx.tolist()], first=not stats)
                losses.append(loss)
                stats.append(m)
        if self.sharded:
            self.model.load_state_dict(distributed.full_state_dict(self.policy))
        self.engine.sync_weights(self.model)  # the next rollouts come from the updated policy
        return {
            "step": step, **seen,
            "loss": float(np.mean(losses)), "response_length": float(batch.mask.sum(1).float().mean()),
            "finished": float(np.mean([g.finished for g in rollout.generations])), "updates": len(stats),
            "groups": batch.size // self.rollout_cfg.samples_per_prompt,
            **{k: float(np.mean([m[k] for m in stats if k in m])) for k in stats[0] if k not in ("entropy", "behaviour_gap")},
            "entropy": stats[0]["entropy"], "behaviour_gap": stats[0]["behaviour_gap"],
            **self.budget.snapshot(),
        }

    def update(self, mb: RolloutBatch, prompts: list[list[int]], first: bool) -> tuple[float, dict]:
        """One optimizer step on this process's share of a minibatch, in `train.grad_accumulation` pieces.

        Every piece's loss is divided by the aggregation count of the whole minibatch — summed over
        data-parallel processes — so the step is the same whatever the split (tested: 1 process × 2
        accumulation steps = 2 processes × 1 = 1 × 1).
        """
        mb = mb.to(next(self.model.parameters()).device)
        count = distributed.all_sum([self.algorithm.loss_count(mb)])[0]
        # the same number of pieces everywhere: FSDP gathers weights in every forward, a collective
        pieces = int(distributed.all_min(min(self.train_cfg.grad_accumulation, mb.size)))
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, metrics = 0.0, []
        for j, idx in enumerate(torch.tensor_split(torch.arange(mb.size), pieces)):
            with self.gradient_sync(j == pieces - 1):
                loss, m = self._backward(mb.select(idx), [prompts[i] for i in idx.tolist()], count, first and j == 0)
            loss_sum += loss
            metrics.append(m)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.train_cfg.max_grad_norm)
        if self.sharded:
            grad_norm = grad_norm.full_tensor()
        if not torch.isfinite(grad_norm):
            raise TrainingDiverged(f"gradient norm became {grad_norm.item()}; lower train.lr")
        self.optimizer.step()
        self.schedule.step()
        merged = {k: float(np.mean([m[k] for m in metrics if k in m])) for k in metrics[0]}
        merged["grad_norm"] = float(grad_norm)
        return loss_sum, merged

    def gradient_sync(self, sync: bool):
        """Processes exchange gradients only on the last accumulation piece of a minibatch."""
        if self.sharded:
            self.policy.set_requires_gradient_sync(sync)
        elif self.world > 1 and not sync:
            return self.policy.no_sync()
        return contextlib.nullcontext()

    def _backward(self, mb: RolloutBatch, prompts: list[list[int]], count: float, first: bool) -> tuple[float, dict]:
        pad = self.tokenizer.pad_token_id
        with self.autocast():
            new_logp, entropy = response_logprobs(self.policy, prompts, mb.response_ids, mb.mask, pad, self.rollout_cfg.temperature,
                                                  with_entropy=first or self.algorithm.needs_current_entropy)
        ref_logp = None
        tokens = int(mb.mask.sum()) + sum(len(p) for p in prompts)
        if self.reference is not None:
            with torch.no_grad(), self.autocast():
                ref_logp, _ = response_logprobs(self.reference, prompts, mb.response_ids, mb.mask, pad,
                                                self.rollout_cfg.temperature)
            self.budget.charge(forwarded=tokens)
        new_logp = new_logp.float()  # the loss in float32 whatever the forward ran in
        ref_logp = ref_logp.float() if ref_logp is not None else None
        new_entropy = entropy.detach().float() if self.algorithm.needs_current_entropy else None
        loss, metrics = self.algorithm.loss(new_logp, mb, ref_logp, count=count, new_entropy=new_entropy)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"loss became {loss.item()}; lower train.lr or check the rewards")
        # DDP and FSDP average gradients over processes; each piece is already a share of the global sum
        (loss * self.world).backward()
        self.budget.charge(trained=tokens)
        if first:  # measured before any update of this batch: the policy that sampled it
            m = mb.mask
            metrics["entropy"] = float(entropy[m].mean()) if m.any() else 0.0
            metrics["behaviour_gap"] = float((new_logp.detach() - mb.old_logp).abs()[m].mean()) if m.any() else 0.0
        return loss.item(), metrics

    # --- resuming -------------------------------------------------------------------------------
    @property
    def resumable(self) -> bool:
        """An FSDP run's optimizer state is split over its processes; such a run restarts instead."""
        return not self.sharded

    def _checkpoint_due(self, step: int, spent_before: float) -> bool:
        every = self.train_cfg.checkpoint_every
        if every is None:
            return False
        if every >= 1:
            return step % int(every) == 0
        limit = self.budget.limit  # a budget fraction: this step crossed a multiple of it
        return int(self.budget.spent / (every * limit)) > int(spent_before / (every * limit))

    def state_dict(self) -> dict:
        """Everything besides the weights that the next step depends on, so a resumed run repeats
        exactly: with data parallelism, every process's sampling streams (a collective: all call it)."""
        streams = distributed.all_gather_objects((self.streams.state(), self.torch_gen.get_state()))
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(), "streams": streams,
                "budget": self.budget.state(), "metrics": self.metrics}

    def load_state_dict(self, state: dict) -> None:
        streams = state["streams"]
        if len(streams) != self.world:
            raise UserError(f"this run was saved by {len(streams)} data-parallel process(es); resume it with as many "
                            f"(torchrun --nproc_per_node {len(streams)}), or delete its resume.pt to restart it")
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        rngs, generator = streams[distributed.rank()]
        self.streams.restore(rngs)
        self.torch_gen.set_state(generator)
        self.budget.restore(state["budget"])
        self.metrics = list(state["metrics"])

    def train(self, metrics_path: Path | None, eval_points: list[float] = (), on_eval: Callable[[int], None] | None = None,
              on_checkpoint: Callable[[int], None] | None = None) -> list[dict]:
        """Steps until the budget is spent; metrics.jsonl is rewritten atomically after each.

        `on_eval(step)` is called (with the clock paused) after the first step that reaches each of
        `eval_points` (budget fractions), for learning curves over the budget axis.

        `on_checkpoint(step)` writes a resume point: every `train.checkpoint_every` steps (or budget
        fraction), and when `stop_requested` is set (SIGINT/SIGTERM), after which `Interrupted` is raised."""
        self.policy.train()
        step = len(self.metrics)  # > 0 when resumed
        if step == 0:
            self.budget.start_clock()
        spent = [0.0, 0.0] + [row["budget_spent"] for row in self.metrics]
        last_cost = spent[-1] - spent[-2]
        pending = [p for p in sorted(eval_points) if p > self.budget.fraction]
        # Stop at the step boundary nearest the limit (the next step is predicted to cost what the last
        # did), so algorithms with expensive steps (SPO's extra rollouts) do not overspend the others.
        while self.budget.spent + last_cost / 2 < self.budget.limit:
            step += 1
            before, counts = self.budget.spent, self.budget.counts()
            row = self.step(step)
            if self.world > 1:  # every process charges the budget with what all of them spent
                self.budget.add_shared(counts)
                reward, pass_rate, groups = distributed.all_sum([row["reward"], row["pass_rate"], row["groups"]])
                row.update(self.budget.snapshot(), reward=reward / self.world, pass_rate=pass_rate / self.world,
                           groups=int(groups))
            last_cost = self.budget.spent - before
            if step == 1 and row.get("behaviour_gap", 0.0) > self.train_cfg.max_behaviour_gap:
                raise TrainingDiverged(
                    f"the sampler's log-probs differ from the trainer's recomputation by {row['behaviour_gap']:.3g} "
                    f"(mean |Δ log p|, limit train.max_behaviour_gap = {self.train_cfg.max_behaviour_gap:g}) before "
                    "any update: sampling is not the distribution the trainer models — likely a generation setting it "
                    "ignores (top_p < 1 on an engine that records log-probs after truncation, a model's "
                    "generation_config), or engine and trainer in different precisions")
            if step == 1 and self.budget.spent > self.budget.limit:
                log.warning("budget.%s = %g is below the cost of one step (%g): the run makes one step; raise it",
                            self.budget.unit, self.budget.limit, self.budget.spent)
            self.metrics.append(row)
            if metrics_path is not None:
                atomic.write_jsonl(metrics_path, self.metrics)
            if self.on_step:
                self.on_step(row)
            evaluated = bool(pending and self.budget.fraction >= pending[0] and on_eval)
            if evaluated:
                while pending and self.budget.fraction >= pending[0]:
                    pending.pop(0)
                with self.budget.paused():
                    on_eval(step)
                self.policy.train()
            if on_checkpoint and not evaluated and (self.stop_requested or self._checkpoint_due(step, spent_before=before)):
                with self.budget.paused():
                    on_checkpoint(step)
            if self.stop_requested:
                raise Interrupted(f"stopped after step {step}")
        self.policy.eval()
        return self.metrics
