#!/bin/bash
# Pretrain on one device: bash scripts/run_standalone_pretrain.sh <config.yaml> [key=value ...]
# DEVICE_TARGET=CPU|GPU|Ascend (default CPU), DEVICE_ID (default 0), PYTHON (default: the repository .venv, else python3).
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
launch_one_device pretrain "configs/pretrain_tiny.yaml max_steps=10" "$@"
