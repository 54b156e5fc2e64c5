"""vLLM's own benchmark client (`vllm bench serve`) run from the vLLM CPU build's venv, for
side-by-side measurements and for tests that need a real vLLM result file.

Its `vllm` console script cannot start in `.venv-vllm` (it asks importlib.metadata for the vllm
distribution, which that venv lacks), so this runs `vllm.benchmarks.serve`'s own argument parser
and `main` through the venv's python: the same code path as `vllm bench serve`.

    tok = stub_tokenizer(tmp / "tok")                         # only for servers without a tokenizer (the stub)
    path = run_vllm_bench("http://127.0.0.1:8000", "stub-model", 100, 50.0, tmp / "vllm",
                          tokenizer=tok)                       # -> tmp/vllm/vllm_bench.json
    mlops bench compare ours.json path

vLLM computes TTFT/TPOT/ITL only with a tokenizer: give the served model's folder (a real vLLM
serving a local model) or `stub_tokenizer(...)` (the stub serves no tokenizer). The prompts are
vLLM's `random` dataset (`input_len` tokens each, `output_len` tokens asked with ignore_eos).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
RESULT_NAME = "vllm_bench.json"

_DRIVER = ("import sys\n"
           "from vllm.benchmarks.serve import add_cli_args, main\n"
           "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
           "parser = FlexibleArgumentParser(description='vllm bench serve')\n"
           "add_cli_args(parser)\n"
           "main(parser.parse_args(sys.argv[1:]))\n")


class VllmBenchError(RuntimeError):
    pass


def vllm_bench_available(python: Path = VLLM_PYTHON) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import importlib.util as u, sys; "
                            "sys.exit(u.find_spec('vllm.benchmarks.serve') is None)"], capture_output=True, timeout=120)
    return probe.returncode == 0


def stub_tokenizer(out: Path) -> Path:
    """A small byte-level BPE tokenizer folder (the project's `train_tokenizer`), for vLLM's
    client against a server that has none; built in well under a second."""
    from tasks.training.base_model import train_tokenizer

    if not (out / "tokenizer.json").exists():
        texts = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(64)]
        train_tokenizer(texts, 300).save_pretrained(str(out))
    return out


def vllm_bench_args(base_url: str, model: str, num_prompts: int, request_rate: float, result_dir: Path, *,
                    tokenizer: str | Path | None = None, input_len: int = 16, output_len: int = 16, seed: int = 0,
                    endpoint: str = "completions", extra_args: Sequence[str] = ()) -> list[str]:
    chat = endpoint == "chat"
    return ["--backend", "openai-chat" if chat else "openai", "--base-url", base_url,
            "--endpoint", "/v1/chat/completions" if chat else "/v1/completions", "--model", model,
            "--tokenizer", str(tokenizer or model), "--dataset-name", "random", "--random-input-len", str(input_len),
            "--random-output-len", str(output_len), "--num-prompts", str(num_prompts),
            "--request-rate", str(request_rate), "--seed", str(seed), "--temperature", "0",
            "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,95,99",
            "--save-result", "--save-detailed", "--result-dir", str(result_dir), "--result-filename", RESULT_NAME,
            "--disable-tqdm", *extra_args]


def run_vllm_bench(base_url: str, model: str, num_prompts: int, request_rate: float, result_dir: Path,
                   extra_args: Sequence[str] = (), *, tokenizer: str | Path | None = None, input_len: int = 16,
                   output_len: int = 16, seed: int = 0, endpoint: str = "completions", timeout_s: float = 300,
                   python: Path = VLLM_PYTHON) -> Path:
    """`vllm bench serve ... --save-result --save-detailed` into `result_dir`; its result file.
    `extra_args` go last, so they override (e.g. ("--max-concurrency", "8"))."""
    result_dir = Path(result_dir)
    result_dir.mkdir(parents=True, exist_ok=True)
    args = vllm_bench_args(base_url, model, num_prompts, request_rate, result_dir, tokenizer=tokenizer,
                           input_len=input_len, output_len=output_len, seed=seed, endpoint=endpoint,
                           extra_args=extra_args)
    env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([str(python), "-c", _DRIVER, *args], cwd=result_dir, env=env, capture_output=True,
                          text=True, timeout=timeout_s)
    path = result_dir / RESULT_NAME
    if proc.returncode != 0 or not path.exists():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise VllmBenchError(f"vllm bench serve exited {proc.returncode}:\n{tail}")
    return path
