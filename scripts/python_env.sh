# Sourced by the launch scripts: PYTHON is the interpreter that runs mindgpt. Default: the repository's
# .venv (what the README's Quick start creates) when it exists, else python3 from PATH.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import mindgpt" 2>/dev/null; then
  echo "error: $PYTHON cannot import mindgpt; run the README's Quick start (or pip install -e .), or set PYTHON"
  exit 1
fi
