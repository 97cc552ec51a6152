"""Data-parallel training: an update does not depend on how its minibatch is split over processes
(DDP, gloo on CPU) or over gradient-accumulation steps. The check is on gradients, not on Adam's
step: Adam's first step is sign-like and would hide a loss that is off by a constant factor."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from transformers import LlamaConfig, LlamaForCausalLM

from algorithms.batch import RolloutBatch
from harness.spec.config import Rollout, Train
from harness.spec.plugins import make_algorithm
from harness.training import trainer as training
from harness.training.budget import Budget
from harness.training.policy import response_logprobs
from harness.training.trainer import Trainer
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # minutes of end-to-end work: started first (conftest.py)

ROWS, GROUP, PAD = 8, 4, 0
SMOKE = (ROOT / "suites" / "smoke.yaml").read_text()


# (algorithm, parameters): every aggregation, ratio granularity and partition. DAPO's token-mean is
# grpo with aggregation token_mean here: DAPO's group refilling is refused under data parallelism.
CASES = {"grpo": ("grpo", {}), "token_mean": ("grpo", {"aggregation": "token_mean"}), "dr_grpo": ("dr_grpo", {}),
         "gspo": ("gspo", {}), "mpo": ("mpo", {}), "sapo_segment": ("sapo_segment", {})}


def setup(name: str, accumulation: int, weights: str | None = None, parallel: str = "ddp"):
    """The same model (loaded from `weights` when given), rollout batch and trainer in every process,
    with unequal response lengths."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64)
    model = LlamaForCausalLM(config).float()
    if weights is not None:
        model.load_state_dict(torch.load(weights))
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, 64, (int(torch.randint(2, 6, (1,), generator=gen)),), generator=gen).tolist() for _ in range(ROWS)]
    lengths = torch.randint(2, 9, (ROWS,), generator=gen)
    mask = torch.arange(8)[None, :] < lengths[:, None]
    ids = torch.where(mask, torch.randint(1, 64, (ROWS, 8), generator=gen), PAD)
    old_logp = torch.where(mask, -3.0 + 0.3 * torch.randn(ROWS, 8, generator=gen), 0.0)  # off-policy: ratios != 1
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 1, 1, 1])
    algorithm = make_algorithm(*CASES[name])
    batch = algorithm.prepare(RolloutBatch(response_ids=ids, mask=mask, old_logp=old_logp, rewards=rewards,
                                           group=torch.arange(ROWS) // GROUP, max_new_tokens=8,
                                           entropy=torch.rand(ROWS, 8, generator=gen)))
    trainer = Trainer(model=model, tokenizer=SimpleNamespace(pad_token_id=PAD), engine=None, task=None,
                      algorithm=algorithm, rollout_cfg=Rollout(), budget=Budget("flops", 1e18, 1), seed=0,
                      train_cfg=Train(lr=1e-3, warmup_steps=0, max_grad_norm=1e9, grad_accumulation=accumulation,
                                      parallel=parallel))
    return trainer, batch, prompts


def gradient_after_update(name: str, accumulation: int, rows: list[int], weights: str,
                          parallel: str = "ddp") -> dict[str, torch.Tensor]:
    trainer, batch, prompts = setup(name, accumulation, weights, parallel)
    trainer.update(batch.select(torch.tensor(rows)), [prompts[i] for i in rows], first=True)
    if trainer.sharded:  # each process holds a shard of every gradient: gather the whole
        return {k: p.grad.full_tensor() for k, p in trainer.policy.named_parameters()}
    return {k: p.grad.clone() for k, p in trainer.model.named_parameters()}


def shared_rows(rank: int, kept_groups: list[int]) -> list[str]:
    trainer, _, _ = setup("grpo", 1)
    trainer.rollout_cfg = Rollout(prompts_per_step=4, samples_per_prompt=2)
    rows = [f"rank{rank}-group{g}-{i}" for g in range(kept_groups[rank]) for i in range(2)]
    share = trainer.rebalance(training.Rollout(rows, rows, rows, rows))
    assert share.problems == share.prompts == share.generations == share.scores
    return share.problems


REBALANCING = {  # groups each of 2 processes kept → the groups each gets (each group has 2 rows)
    "pooled, then split as evenly as possible": ([3, 0], [["rank0-group0"], ["rank0-group1", "rank0-group2"]]),
    "cut to one batch of 4 groups": ([3, 3], [["rank0-group0", "rank0-group1"], ["rank0-group2", "rank1-group0"]]),
    "fewer groups than processes: nobody updates": ([1, 0], [[], []]),
}


def _worker(rank: int, port: int, weights: str, out: str) -> None:
    """One of two processes. Rank 0 first computes every case alone: the whole minibatch in 1 and in
    2 accumulation steps. Then both join a process group and compute their shares: under DDP × 1,
    under FSDP × 2 accumulation steps, and DAPO's rebalancing of kept groups (`REBALANCING`)."""
    torch.set_num_threads(1)
    results = {}
    if rank == 0:
        results["single"] = {name: {acc: gradient_after_update(name, acc, list(range(ROWS)), weights) for acc in (1, 2)}
                             for name in CASES}
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        rows = list(range(rank * ROWS // 2, (rank + 1) * ROWS // 2))  # whole groups, as rollouts are sharded by prompt
        for parallel, accumulation in (("ddp", 1), ("fsdp", 2)):
            results[parallel] = {name: gradient_after_update(name, accumulation, rows, weights, parallel) for name in CASES}
        results["rebalanced"] = {case: shared_rows(rank, kept) for case, (kept, _) in REBALANCING.items()}
        torch.save(results, f"{out}.{rank}")
        dist.barrier()
    finally:
        # every trainer (and its DDP reducer, which holds the process group) is gone by now: gloo's
        # destructor joins its worker thread, which a GIL-holding teardown would block
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same(a: dict, b: dict) -> None:
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-7, msg=lambda m, k=k: f"{k}: {m}")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> list[dict]:
    """What each of two fresh processes computed from one saved model (`_worker`)."""
    tmp = tmp_path_factory.mktemp("data_parallel")
    weights = tmp / "weights.pt"
    torch.save(setup("grpo", 1)[0].model.state_dict(), weights)
    mp.spawn(_worker, args=(free_port(), str(weights), str(tmp / "results")), nprocs=2)
    return [torch.load(tmp / f"results.{rank}") for rank in range(2)]


@pytest.mark.parametrize("name", list(CASES))
def test_update_is_invariant_to_data_parallel_width_and_accumulation(name, two_processes):
    whole, accumulated = two_processes[0]["single"][name][1], two_processes[0]["single"][name][2]
    ddp, fsdp = two_processes[0]["ddp"][name], two_processes[0]["fsdp"][name]
    assert any(g.abs().sum() > 0 for g in whole.values())
    assert_same(accumulated, whole)  # 1 process × 2 accumulation steps
    assert_same(ddp, whole)  # 2 processes × 1, whole weights in each (DDP)
    assert_same(fsdp, whole)  # 2 processes × 2 accumulation steps, sharded weights (FSDP)


def test_averaging_per_shard_losses_would_be_caught(tmp_path):
    """The bug this guards against: each shard divides by its own count. With unequal token counts
    the token-mean gradient then differs from the whole minibatch's."""
    trainer, batch, prompts = setup("token_mean", 1)
    torch.save(trainer.model.state_dict(), tmp_path / "weights.pt")
    whole = gradient_after_update("token_mean", 1, list(range(ROWS)), tmp_path / "weights.pt")
    trainer.optimizer.zero_grad()
    for rows in (range(0, 4), range(4, 8)):
        shard = batch.select(torch.tensor(list(rows)))
        logp, _ = response_logprobs(trainer.model, [prompts[i] for i in rows], shard.response_ids, shard.mask, PAD)
        with torch.no_grad():
            ref, _ = response_logprobs(trainer.reference, [prompts[i] for i in rows], shard.response_ids, shard.mask, PAD)
        loss, _ = trainer.algorithm.loss(logp, shard, ref)  # its own count: the naive split
        (loss / 2).backward()
    naive = {k: p.grad for k, p in trainer.model.named_parameters()}
    assert any(not torch.allclose(naive[k], whole[k], rtol=1e-4) for k in whole)


def run_under_torchrun(suite: Path, out: Path, cache: Path) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "harness.cli", "run", str(suite), "--out", str(out), "--cache", str(cache)]
    return subprocess.run(args, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def under_ddp(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The smoke suite with GRPO and DAPO, trained by two processes under torchrun with DDP: one launch
    serves the comparison with FSDP and DAPO's refilling."""
    tmp = tmp_path_factory.mktemp("torchrun")
    suite = tmp / "smoke_ddp.yaml"
    suite.write_text(SMOKE.replace("  grpo: {}", "  grpo: {}\n  dapo: {}"))
    r = run_under_torchrun(suite, tmp / "ddp", tmp / "cache")
    assert r.returncode == 0, r.stderr
    return tmp, r


def test_a_suite_trains_data_parallel_under_torchrun_with_ddp_and_with_fsdp(under_ddp):
    tmp, ddp = under_ddp
    sharded = tmp / "smoke_fsdp.yaml"
    sharded.write_text(SMOKE.replace("updates_per_batch: 2}", "updates_per_batch: 2, parallel: fsdp}"))
    fsdp = run_under_torchrun(sharded, tmp / "fsdp", tmp / "cache")
    assert fsdp.returncode == 0, fsdp.stderr
    results = {}
    for kind, r, algorithms in (("ddp", ddp, {"grpo", "dapo"}), ("fsdp", fsdp, {"grpo"})):
        out = tmp / kind
        assert r.stdout.count("leaderboard:") == 1  # only the main process reports and writes
        (summary_file,) = out.glob("runs/grpo-*/summary.json")
        summary = json.loads(summary_file.read_text())
        rows = [json.loads(line) for line in (summary_file.parent / "metrics.jsonl").read_text().splitlines()]
        assert summary["data_parallel"] == 2 and len(rows) == summary["steps"] >= 3
        # both processes' tokens are charged, and both stop at the same step near the limit
        last_cost = rows[-1]["budget_spent"] - rows[-2]["budget_spent"]
        assert abs(summary["budget_spent"] - summary["budget_limit"]) <= last_cost / 2 + 1e-6 * summary["budget_limit"]
        assert set(pd.read_csv(out / "leaderboard.csv")["algorithm"]) == algorithms and not list(out.rglob("*.tmp"))
        results[kind] = rows
    # the same run id (the split is not part of the config) and the same training: FSDP's whole
    # weights are copied back into the sampling model after every step, so its rollouts follow DDP's
    assert {p.name for p in (tmp / "ddp" / "runs").glob("grpo-*")} == {p.name for p in (tmp / "fsdp" / "runs").iterdir()}
    for ddp_row, fsdp_row in zip(results["ddp"], results["fsdp"]):
        assert fsdp_row["reward"] == ddp_row["reward"]
        assert fsdp_row["loss"] == pytest.approx(ddp_row["loss"], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("case", list(REBALANCING))
def test_filtered_groups_are_pooled_and_shared_equally(two_processes, case):
    """After DAPO's filtering, processes hold different numbers of groups; each must make the same
    number of updates, on the batch a single process would have kept."""
    for rank, want in enumerate(REBALANCING[case][1]):
        assert two_processes[rank]["rebalanced"][case] == [f"{group}-{i}" for group in want for i in range(2)]


def test_dapo_trains_data_parallel_under_torchrun(under_ddp):
    """DAPO refills filtered groups over several rounds; processes decide together when the batch is
    full and share the kept groups, so none waits for another's update."""
    tmp, _ = under_ddp
    (summary_file,) = (tmp / "ddp").glob("runs/dapo-*/summary.json")
    rows = [json.loads(line) for line in (summary_file.parent / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 3 and all(row["groups"] <= 4 for row in rows)
    assert any(0 < row["groups"] for row in rows) and all(row["updates"] <= 2 for row in rows)


class PowerCut(RuntimeError):
    pass


def _suite_worker(rank: int, port: int, suite: str, cache: str, runs: list[tuple[str, bool]]) -> None:
    """The suite into each (out, cut) of `runs` in turn, in one process group: a cut run stops after
    its 50 % evaluation, before the 75 % one, in both processes."""
    from harness.spec.config import load_suite
    from harness.suites.suite import run_suite

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    step = Trainer.step

    def power_cut(self, i):
        row = step(self, i)
        if self.budget.fraction > 0.6:
            raise PowerCut
        return row

    try:
        for out, cut in runs:
            Trainer.step = power_cut if cut else step
            run_suite(load_suite(suite), Path(out), Path(cache), progress=False)
    finally:
        Trainer.step = step
        dist.destroy_process_group()


def test_an_interrupted_data_parallel_run_resumes_exactly(tmp_path):
    """Every process's sampling streams are saved at each evaluation point, so a resumed 2-process
    run repeats the uninterrupted one step for step."""
    suite = tmp_path / "mid.yaml"
    suite.write_text(SMOKE.replace("every: 0.5", "every: 0.25"))
    run = lambda *runs: mp.spawn(_suite_worker, nprocs=2,  # noqa: E731
                                 args=(free_port(), str(suite), str(tmp_path / "cache"), runs))
    with pytest.raises(mp.ProcessRaisedException, match="PowerCut"):  # uninterrupted, then cut, in two processes
        run((str(tmp_path / "whole"), False), (str(tmp_path / "cut"), True))
    (run_dir,) = (tmp_path / "cut" / "runs").iterdir()
    assert (run_dir / "resume.pt").is_file() and not (run_dir / "DONE").exists()
    assert (tmp_path / "whole" / "leaderboard.csv").is_file()
    run((str(tmp_path / "cut"), False))  # resumed in two fresh processes
    metrics = lambda out: [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"}  # noqa: E731
                           for line in next((tmp_path / out).glob("runs/*/metrics.jsonl")).read_text().splitlines()]
    assert len(metrics("whole")) >= 4 and metrics("cut") == metrics("whole")
    assert not (run_dir / "resume.pt").exists() and (run_dir / "DONE").exists()
