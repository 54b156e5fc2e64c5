# Sourced by setup.sh and main.sh: which builds to install, CUDA or CPU, and why.
#   mlops_pick_accelerator   sets MLOPS_PICKED (cpu|cuda) and MLOPS_PICKED_WHY (one line)
# MLOPS_ACCELERATOR=cpu|cuda overrides the probe; otherwise a CUDA GPU is one that
# `nvidia-smi -L` lists (the driver is there and sees the card).

mlops_pick_accelerator() {
  MLOPS_PICKED=cpu
  case "${MLOPS_ACCELERATOR:-}" in
    cpu|cuda)
      MLOPS_PICKED="$MLOPS_ACCELERATOR"
      MLOPS_PICKED_WHY="MLOPS_ACCELERATOR=$MLOPS_ACCELERATOR"
      return 0 ;;
    "") ;;
    *)
      echo "MLOPS_ACCELERATOR must be 'cpu' or 'cuda' (or unset to detect), got '$MLOPS_ACCELERATOR'" >&2
      return 2 ;;
  esac
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    MLOPS_PICKED_WHY="no nvidia-smi on PATH (no NVIDIA driver); set MLOPS_ACCELERATOR=cuda to force CUDA builds"
    return 0
  fi
  local gpus
  gpus="$(nvidia-smi -L 2>/dev/null | grep -E '^GPU [0-9]+:' || true)"
  if [ -z "$gpus" ]; then
    MLOPS_PICKED_WHY="nvidia-smi is present but lists no GPU; set MLOPS_ACCELERATOR=cuda to force CUDA builds"
    return 0
  fi
  MLOPS_PICKED=cuda
  MLOPS_PICKED_WHY="nvidia-smi lists $(printf '%s\n' "$gpus" | wc -l | tr -d ' ') GPU(s): $(printf '%s\n' "$gpus" | head -1 | sed -E 's/ \(UUID:.*\)//'); set MLOPS_ACCELERATOR=cpu to use the CPU builds"
}
