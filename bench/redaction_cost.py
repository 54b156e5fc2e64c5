"""What redaction costs: typical log strings, and hostile input of growing size.

    .venv/bin/python bench/redaction_cost.py [--sizes 2048,8192,32768]
    PYTHONPATH=<other checkout> .venv/bin/python bench/redaction_cost.py --sizes 2048,8192   # compare

(a) per-call cost on strings the loggers see all the time (ids, paths, model names, prose) and
    on strings that hold a secret; the pre-filter keeps the clean ones cheap.
(b) seconds per call on adversarial shapes at each size, and the growth ratio per 4x input
    (linear ~4x; the `key=value` pattern before issue 10 grew ~16-64x per 4x).
"""

from __future__ import annotations

import argparse
import time

from logging_lib.redaction import redact_text

TYPICAL = {
    "request id (uuid)": "3f2a1b4c-1234-4abc-8def-0123456789ab",
    "api path": "/v1/chat/completions",
    "model name": "meta-llama/Llama-3.2-1B-Instruct",
    "file path": "/work/models/adapter/adapter_model.safetensors",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "prose (200 chars)": ("the run finished epoch 3 of 10 with loss 0.2345 and the validation accuracy went up; "
                          "checkpoint written to disk, next evaluation in 500 steps, no warnings were raised ok"),
    "url with password": "postgresql://mlflow:hunter2@db:5432/mlflow",
    "bearer jwt": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIzNDU2",
    "json with password": '{"user": "bob", "password": "hunter2", "model": "m"}',
}
HOSTILE = {
    "token-token-...": "token-",
    "token_token_...": "token_",
    "password=password=...": "password=",
    "a=a=...": "a=",
    "eyJeyJ...": "eyJ",
    "http://a:http://a:...": "http://a:",
}


def per_call_us(text: str, budget_s: float = 0.2) -> float:
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        redact_text(text)
        calls += 1
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2048,8192,32768", help="comma-separated input sizes in characters")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'(a) typical string':<24}{'us/call':>10}")
    for name, text in TYPICAL.items():
        print(f"{name:<24}{per_call_us(text):>10.2f}")
    print()
    header = "".join(f"{f'{n // 1024} KB s':>12}" for n in sizes)
    print(f"{'(b) hostile shape':<24}{header}{'growth/4x':>11}")
    for name, unit in HOSTILE.items():
        times = []
        for n in sizes:
            text = (unit * (n // len(unit) + 1))[:n]
            t0 = time.perf_counter()
            redact_text(text)
            times.append(time.perf_counter() - t0)
        growth = (times[-1] / times[0]) ** (1 / max(1, len(times) - 1)) if times[0] > 0 else float("nan")
        print(f"{name:<24}{''.join(f'{t:>12.4f}' for t in times)}{growth:>10.1f}x")


if __name__ == "__main__":
    main()
