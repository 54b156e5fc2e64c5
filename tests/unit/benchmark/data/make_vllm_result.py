"""Records `vllm_bench_serve.json` beside this file: a real `vllm bench serve --save-result
--save-detailed` result (vLLM's own client, from the vLLM CPU build's venv) against the stub,
with the stub stopped part-way so the file also holds failed requests. The unit tests of
`mlops bench compare` read it without needing vLLM; the integration test runs vLLM live.

    .venv/bin/python -m tests.unit.benchmark.data.make_vllm_result
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench._procs import start_stub
from bench._vllm_bench import run_vllm_bench, stub_tokenizer

OUT = Path(__file__).with_name("vllm_bench_serve.json")


def _stop_after(proc, url: str, completions: int) -> None:
    """Stop the stub once it has answered `completions` requests (vLLM's readiness probe included)."""
    while proc.poll() is None:
        try:
            if httpx.get(url + "/stats", timeout=2).json()["completions"] >= completions:
                proc.terminate()
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)


def main() -> None:
    proc, url = start_stub(ttft_ms=20, itl_ms=2, output_tokens=8, extra_args=("--ttft-jitter", "0.3"))
    stopper = threading.Thread(target=_stop_after, args=(proc, url, 31), daemon=True)
    stopper.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = run_vllm_bench(url, "stub-model", 40, 20.0, Path(tmp) / "out", tokenizer=stub_tokenizer(Path(tmp) / "tok"),
                                  output_len=8)
            shutil.copyfile(path, OUT)
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
