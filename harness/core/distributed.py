"""Data-parallel runs under torchrun: one process per device, each sampling and training on its own
share of every rollout batch; DDP (or FSDP, `train.parallel: fsdp`) sums the gradients, and only
the main process writes files.

    torchrun --nproc_per_node 8 -m harness.cli run suites/paper.yaml

The process group comes from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR):
NCCL on GPUs, gloo on CPU. Without torchrun nothing here does anything.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum over processes."""
    return _reduce(values, dist.ReduceOp.SUM) if dist.is_initialized() else list(values)


def all_max(value: float) -> float:
    return _reduce([value], dist.ReduceOp.MAX)[0] if dist.is_initialized() else value


def all_min(value: float) -> float:
    return _reduce([value], dist.ReduceOp.MIN)[0] if dist.is_initialized() else value


def all_gather_objects(obj) -> list:
    """Every process's `obj`, in rank order (pickled)."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _reduce(values: list[float], op) -> list[float]:
    # float64 so token counts stay exact; NCCL reduces on the device, gloo on the CPU
    tensor = torch.tensor(values, dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def shard(model: torch.nn.Module) -> torch.nn.Module:
    """FSDP2 in place: each transformer block (the classes a Hugging Face model lists as
    `_no_split_modules`) is one unit, the rest of the model the root unit. Parameters, gradients
    and optimizer state are split over the processes; a block's weights are gathered for its forward."""
    from torch.distributed.fsdp import fully_shard

    blocks = set(getattr(model, "_no_split_modules", None) or [])
    for module in list(model.modules())[1:]:
        if type(module).__name__ in blocks:
            fully_shard(module)
    fully_shard(model)
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every process gets the whole weights of a sharded model (a collective: all must call it)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
