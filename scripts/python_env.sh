# Sourced by the launch scripts.
# find_python: PYTHON is the interpreter that runs mindgpt. Default: the repository's .venv (what the README's
# Quick start creates) when it exists, else python3 from PATH.
# launch_one_device COMMAND EXAMPLE ARGS...: the single-device launchers' shared body: check the config argument,
# print usage otherwise, then run `python -m mindgpt COMMAND --config CONFIG [key=value ...]`.
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
