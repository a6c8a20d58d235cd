#!/bin/bash
# Score a fine-tuned model on its test split: bash scripts/run_eval.sh <finetuned_dir> <config.yaml> [key=value ...]
# Writes <finetuned_dir>/evaluation/metrics.json and test_predictions.jsonl.
# DEVICE_TARGET=CPU|GPU|Ascend (default CPU), DEVICE_ID (default 0), PYTHON (default: the repository .venv, else python3).
usage() {
  echo "Usage: bash scripts/run_eval.sh <finetuned_dir> <config.yaml> [key=value ...]"
  echo "  e.g. bash scripts/run_eval.sh outputs/finetune_mr configs/finetune_mr.yaml"
}
if [ $# -lt 2 ] || [ ! -d "$1" ] || [ ! -f "$2" ]; then
  [ $# -ge 1 ] && [ ! -d "$1" ] && echo "error: fine-tuned directory '$1' not found"
  [ $# -ge 2 ] && [ ! -f "$2" ] && echo "error: config file '$2' not found"
  usage
  exit 1
fi
FINETUNED=$1
CONFIG=$2
shift 2
export DEVICE_TARGET=${DEVICE_TARGET:-CPU}
export DEVICE_ID=${DEVICE_ID:-0}
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
find_python
exec "$PYTHON" -m mindgpt evaluate --finetuned "$FINETUNED" --config "$CONFIG" "$@"
