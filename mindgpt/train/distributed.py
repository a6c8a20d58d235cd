"""Data-parallel set-up, once per process: msrun and rank-table launches both end here.

The CLI's entry point (`cli.set_up_device`) sets it up before any work. A Python script calling `Trainer`,
`pretrain` or `finetune` itself gets it from them: they call `init_data_parallel`, which sets up on the first call
and afterwards only reports (rank, world size).
"""
from __future__ import annotations

import os

import mindspore as ms


def launched_distributed() -> bool:
    """True under msrun (MS_WORKER_NUM) or a rank-table launch (RANK_SIZE > 1)."""
    return int(os.environ.get("MS_WORKER_NUM", "1")) > 1 or int(os.environ.get("RANK_SIZE", "1")) > 1


def init_data_parallel() -> tuple[int, int]:
    """(rank, world size). Under a distributed launch: init the collectives and average gradients."""
    if not launched_distributed():
        return 0, 1
    from mindspore.communication import get_group_size, get_rank, init

    if ms.get_auto_parallel_context("parallel_mode") == ms.ParallelMode.DATA_PARALLEL:
        return get_rank(), get_group_size()  # set up already (a Trainer inside a launched entry point)
    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return get_rank(), get_group_size()


def barrier(world: int) -> None:
    """Wait for every rank (no-op in a single process).

    An all-reduce of one number: MindSpore's Barrier op has no CPU kernel, AllReduce runs everywhere.
    """
    if world > 1:
        from mindspore import ops

        ops.AllReduce()(ms.Tensor([1.0], ms.float32)).asnumpy()
