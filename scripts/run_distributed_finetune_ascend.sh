#!/bin/bash
# The classic Ascend-cluster launch: one process per device, described by an HCCL rank table.
#   bash scripts/run_distributed_finetune_ascend.sh <rank_table.json> <config.yaml> [key=value ...]
# Environment: RANK_START (first device of this server, default 0), DEVICE_NUM (devices on this server,
# default: all ranks in the table), PYTHON (default: the repository .venv, else python3). Logs: ./device<id>/log.
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
launch_rank_table finetune "$@" || exit
