"""Process-group setup and the few collectives the loop needs.

Launch with `torchrun --nproc_per_node N -m training sft ...`: gloo on CPU, NCCL on GPU. A single
process without torchrun runs without a process group, except under DeepSpeed, which always
wants one (a single process then gets RANK=0, WORLD_SIZE=1 and a free local port).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def free_port() -> int:
    """A port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_distributed(needs_process_group: bool) -> DistributedContext:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if needs_process_group and "RANK" not in os.environ:
        os.environ.update(
            RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port())
        )
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if (world_size > 1 or needs_process_group) and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a float64 tensor over ranks (float64 so that large token counts stay exact)."""
    values = values.to(device=context.device, dtype=torch.float64)
    if context.enabled and context.world_size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def barrier(context: DistributedContext) -> None:
    if context.enabled and context.world_size > 1:
        dist.barrier()


def broadcast_object(value, context: DistributedContext):
    if not (context.enabled and context.world_size > 1):
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
