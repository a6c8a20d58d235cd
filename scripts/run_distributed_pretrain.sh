#!/bin/bash
# Data-parallel pretraining through msrun:
#   bash scripts/run_distributed_pretrain.sh <num_workers> <config.yaml> [key=value ...]
# Environment:
#   DEVICE_TARGET  CPU | GPU | Ascend (default CPU)
#   NNODES         number of machines (default 1); num_workers is the total over all of them
#   NODE_RANK      this machine's index, 0..NNODES-1 (default 0)
#   MASTER_ADDR    address of node 0 (default 127.0.0.1); MASTER_PORT its port (default 8118)
#   LOG_DIR        per-rank logs, worker_<rank>.log (default ./logs/pretrain)
#   PYTHON         interpreter with mindgpt installed (default: the repository .venv, else python3)
# Multi-node: run the same command on every node with its NODE_RANK and the same MASTER_ADDR/PORT.
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
launch_msrun pretrain "configs/pretrain_tiny.yaml max_steps=4" "$@" || exit
