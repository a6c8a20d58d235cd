#!/bin/bash
# Fine-tune on one device: bash scripts/run_finetune.sh <config.yaml> [key=value ...]
# DEVICE_TARGET=CPU|GPU|Ascend (default CPU), DEVICE_ID (default 0), PYTHON (default: the repository .venv, else python3).
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
launch_one_device finetune "configs/finetune_mr.yaml pretrained=outputs/pretrain_small/final" "$@"
