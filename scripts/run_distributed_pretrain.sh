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
usage() {
  echo "Usage: bash scripts/run_distributed_pretrain.sh <num_workers> <config.yaml> [key=value ...]"
  echo "  e.g. DEVICE_TARGET=CPU bash scripts/run_distributed_pretrain.sh 2 configs/pretrain_tiny.yaml max_steps=4"
}
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]] || [ ! -f "$2" ]; then
  [ $# -ge 1 ] && ! [[ "$1" =~ ^[1-9][0-9]*$ ]] && echo "error: num_workers '$1' is not a positive integer"
  [ $# -ge 2 ] && [ ! -f "$2" ] && echo "error: config file '$2' not found"
  usage
  exit 1
fi
WORKERS=$1
CONFIG=$2
shift 2
NNODES=${NNODES:-1}
if (( WORKERS % NNODES )); then
  echo "error: num_workers=$WORKERS does not divide over NNODES=$NNODES"; usage; exit 1
fi
LOG_DIR=${LOG_DIR:-./logs/pretrain}
export DEVICE_TARGET=${DEVICE_TARGET:-CPU}
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
find_python
MAIN=$("$PYTHON" -c "import mindgpt, os; print(os.path.join(os.path.dirname(mindgpt.__file__), '__main__.py'))")
# msrun starts each worker with whatever `python` is first on PATH: make that this interpreter.
SHIM=$(mktemp -d)
trap 'rm -rf "$SHIM"' EXIT
printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PYTHON")" > "$SHIM/python"
chmod +x "$SHIM/python"
export PATH="$SHIM:$PATH"
"$PYTHON" -m mindspore.parallel.cluster.run --worker_num="$WORKERS" --local_worker_num=$((WORKERS / NNODES)) \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-8118}" --node_rank="${NODE_RANK:-0}" \
  --log_dir="$LOG_DIR" --join=True --cluster_time_out="${CLUSTER_TIME_OUT:-300}" \
  "$MAIN" pretrain --config "$CONFIG" "$@"
status=$?
if [ $status -ne 0 ]; then
  echo "error: distributed pretraining failed (exit $status): a worker died or the cluster did not form."
  echo "last lines of each worker's log in $LOG_DIR:"
  for log in "$LOG_DIR"/worker_*.log; do echo "== $log"; tail -n 5 "$log"; done
  exit $status
fi
echo "done; per-rank logs in $LOG_DIR"
