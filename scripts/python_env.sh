# Sourced by the launch scripts.
# find_python: PYTHON is the interpreter that runs mindgpt. Default: the repository's .venv (what the README's
# Quick start creates) when it exists, else python3 from PATH.
# launch_one_device COMMAND EXAMPLE ARGS...: the single-device launchers' shared body: check the config argument,
# print usage otherwise, then run `python -m mindgpt COMMAND --config CONFIG [key=value ...]`.
# launch_msrun COMMAND EXAMPLE NUM_WORKERS CONFIG ARGS...: the same job data-parallel through msrun (see
# run_distributed_pretrain.sh for its environment variables).
# launch_rank_table COMMAND RANK_TABLE CONFIG ARGS...: one process per Ascend device of an HCCL rank table.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

find_python() {
  if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
  fi
  if ! "$PYTHON" -c "import mindgpt" 2>/dev/null; then
    echo "error: $PYTHON cannot import mindgpt; run the README's Quick start (or pip install -e .), or set PYTHON"
    exit 1
  fi
}

launch_one_device() {
  local command=$1 example=$2 script
  script=$(basename "$0")
  shift 2
  if [ $# -lt 1 ] || [ ! -f "$1" ]; then
    [ $# -ge 1 ] && echo "error: config file '$1' not found"
    echo "Usage: bash scripts/$script <config.yaml> [key=value ...]"
    echo "  e.g. DEVICE_TARGET=CPU bash scripts/$script $example"
    exit 1
  fi
  local config=$1
  shift
  export DEVICE_TARGET=${DEVICE_TARGET:-CPU}
  export DEVICE_ID=${DEVICE_ID:-0}
  find_python
  exec "$PYTHON" -m mindgpt "$command" --config "$config" "$@"
}

launch_msrun() {
  local command=$1 example=$2
  shift 2
  usage() {
    echo "Usage: bash scripts/$(basename "$0") <num_workers> <config.yaml> [key=value ...]"
    echo "  e.g. DEVICE_TARGET=CPU bash scripts/$(basename "$0") 2 $example"
  }
  if [ $# -lt 2 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]] || [ ! -f "$2" ]; then
    [ $# -ge 1 ] && ! [[ "$1" =~ ^[1-9][0-9]*$ ]] && echo "error: num_workers '$1' is not a positive integer"
    [ $# -ge 2 ] && [ ! -f "$2" ] && echo "error: config file '$2' not found"
    usage
    return 1
  fi
  WORKERS=$1
  CONFIG=$2
  shift 2
  NNODES=${NNODES:-1}
  if (( WORKERS % NNODES )); then
    echo "error: num_workers=$WORKERS does not divide over NNODES=$NNODES"; usage; return 1
  fi
  LOG_DIR=${LOG_DIR:-./logs/$command}
  export DEVICE_TARGET=${DEVICE_TARGET:-CPU}
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
    "$MAIN" "$command" --config "$CONFIG" "$@"
  status=$?
  if [ $status -ne 0 ]; then
    echo "error: distributed $command failed (exit $status): a worker died or the cluster did not form."
    echo "last lines of each worker's log in $LOG_DIR:"
    for log in "$LOG_DIR"/worker_*.log; do echo "== $log"; tail -n 5 "$log"; done
    return $status
  fi
  echo "done; per-rank logs in $LOG_DIR"
}

launch_rank_table() {
  local command=$1
  shift
  usage() { echo "Usage: bash scripts/$(basename "$0") <rank_table.json> <config.yaml> [key=value ...]"; }
  if [ $# -lt 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
    [ $# -ge 1 ] && [ ! -f "$1" ] && echo "error: rank table '$1' not found"
    [ $# -ge 2 ] && [ ! -f "$2" ] && echo "error: config file '$2' not found"
    usage
    return 1
  fi
  export RANK_TABLE_FILE=$(realpath "$1")
  CONFIG=$(realpath "$2")
  shift 2
  find_python
  RANK_SIZE=$("$PYTHON" -c "import json,sys; t=json.load(open(sys.argv[1])); print(sum(len(s['device']) for s in t['server_list']))" "$RANK_TABLE_FILE") || {
    echo "error: $RANK_TABLE_FILE is not an HCCL rank table (server_list/device)"; return 1; }
  export RANK_SIZE
  export DEVICE_TARGET=Ascend
  DEVICE_NUM=${DEVICE_NUM:-$RANK_SIZE}
  RANK_START=${RANK_START:-0}
  pids=()
  for ((i = 0; i < DEVICE_NUM; i++)); do
    export DEVICE_ID=$i
    export RANK_ID=$((RANK_START + i))
    mkdir -p "./device$i"
    "$PYTHON" -m mindgpt "$command" --config "$CONFIG" "$@" > "./device$i/log" 2>&1 &
    pids+=($!)
  done
  # A worker that dies ends the job: stop the others instead of letting them hang in a collective.
  while true; do
    running=0
    for idx in "${!pids[@]}"; do
      pid=${pids[$idx]}
      if kill -0 "$pid" 2>/dev/null; then running=1; continue; fi
      wait "$pid"; status=$?
      if [ $status -ne 0 ]; then
        echo "error: rank $((RANK_START + idx)) exited with status $status; stopping the others (see ./device$idx/log)"
        kill "${pids[@]}" 2>/dev/null
        return $status
      fi
      unset "pids[$idx]"
    done
    [ $running -eq 0 ] && [ ${#pids[@]} -eq 0 ] && break
    sleep 5
  done
  echo "done; logs in ./device*/log"
}
