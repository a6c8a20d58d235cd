#!/bin/bash
# The classic Ascend-cluster launch: one process per device, described by an HCCL rank table.
#   bash scripts/run_distributed_pretrain_ascend.sh <rank_table.json> <config.yaml> [key=value ...]
# Environment: RANK_START (first device of this server, default 0), DEVICE_NUM (devices on this server,
# default: all ranks in the table), PYTHON (default: the repository .venv, else python3). Logs: ./device<id>/log.
usage() {
  echo "Usage: bash scripts/run_distributed_pretrain_ascend.sh <rank_table.json> <config.yaml> [key=value ...]"
}
if [ $# -lt 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
  [ $# -ge 1 ] && [ ! -f "$1" ] && echo "error: rank table '$1' not found"
  [ $# -ge 2 ] && [ ! -f "$2" ] && echo "error: config file '$2' not found"
  usage
  exit 1
fi
export RANK_TABLE_FILE=$(realpath "$1")
CONFIG=$(realpath "$2")
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
find_python
RANK_SIZE=$("$PYTHON" -c "import json,sys; t=json.load(open(sys.argv[1])); print(sum(len(s['device']) for s in t['server_list']))" "$RANK_TABLE_FILE") || {
  echo "error: $RANK_TABLE_FILE is not an HCCL rank table (server_list/device)"; exit 1; }
export RANK_SIZE
export DEVICE_TARGET=Ascend
DEVICE_NUM=${DEVICE_NUM:-$RANK_SIZE}
RANK_START=${RANK_START:-0}
pids=()
for ((i = 0; i < DEVICE_NUM; i++)); do
  export DEVICE_ID=$i
  export RANK_ID=$((RANK_START + i))
  mkdir -p "./device$i"
  "$PYTHON" -m mindgpt pretrain --config "$CONFIG" "$@" > "./device$i/log" 2>&1 &
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
      exit $status
    fi
    unset "pids[$idx]"
  done
  [ $running -eq 0 ] && [ ${#pids[@]} -eq 0 ] && break
  sleep 5
done
echo "done; logs in ./device*/log"
