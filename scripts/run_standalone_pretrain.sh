#!/bin/bash
# Pretrain on one device: bash scripts/run_standalone_pretrain.sh <config.yaml> [key=value ...]
# DEVICE_TARGET=CPU|GPU|Ascend (default CPU), DEVICE_ID (default 0), PYTHON (default: the repository .venv, else python3).
usage() {
  echo "Usage: bash scripts/run_standalone_pretrain.sh <config.yaml> [key=value ...]"
  echo "  e.g. DEVICE_TARGET=CPU bash scripts/run_standalone_pretrain.sh configs/pretrain_tiny.yaml max_steps=10"
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
exec "$PYTHON" -m mindgpt pretrain --config "$CONFIG" "$@"
