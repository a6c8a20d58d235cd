#!/bin/bash
# Fine-tune on one device: bash scripts/run_finetune.sh <config.yaml> [key=value ...]
# DEVICE_TARGET=CPU|GPU|Ascend (default CPU), DEVICE_ID (default 0), PYTHON (default: the repository .venv, else python3).
usage() {
  echo "Usage: bash scripts/run_finetune.sh <config.yaml> [key=value ...]"
  echo "  e.g. bash scripts/run_finetune.sh configs/finetune_mr.yaml pretrained=outputs/pretrain_small/final"
}
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  [ $# -ge 1 ] && echo "error: config file '$1' not found"
  usage
  exit 1
fi
CONFIG=$1
shift
export DEVICE_TARGET=${DEVICE_TARGET:-CPU}
export DEVICE_ID=${DEVICE_ID:-0}
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
exec "$PYTHON" -m mindgpt finetune --config "$CONFIG" "$@"
