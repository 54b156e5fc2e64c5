"""Peak RSS of QLoRA (nf4) vs bf16 LoRA vs fp32 LoRA on a random Llama whose decoder Linear
layers dominate (>= 400M parameters), each mode in a fresh process, plus theoretical weight
bytes. Target: QLoRA peak <= 0.5x bf16 LoRA peak.

Each child samples its own /proc/self/status (VmRSS, RssAnon, RssFile) every 5 ms and
reports the peak per phase (imports, load, prepare, train), so the loader's transient memory
is separated from what training keeps. `nf4+trim` is nf4 with glibc's malloc_trim(0) after
loading: if it drops, the transient is freed memory the allocator kept, not live tensors. `nf4-prequant` loads a checkpoint saved
already quantized (quantize once, store, load 4-bit), so the bf16 weights are never read.
`nf4+gc` adds gradient checkpointing (as the GPU recipe does).

    python bench/qlora_memory.py [--layers 9] [--seq 128] [--batch 1] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MIB = 1024 * 1024
MODES = ("fp32", "bf16", "nf4", "nf4+trim", "nf4-prequant", "nf4+gc")


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "RssAnon", "RssFile", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.phase = "imports"
        self.peaks: dict[str, dict[str, int]] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        s = _status()
        p = self.peaks.setdefault(self.phase, {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "file_at_peak": 0})
        if s.get("VmRSS", 0) > p["VmRSS"]:
            p["VmRSS"], p["file_at_peak"] = s["VmRSS"], s.get("RssFile", 0)
        p["RssAnon"] = max(p["RssAnon"], s.get("RssAnon", 0))
        p["RssFile"] = max(p["RssFile"], s.get("RssFile", 0))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.005)

    def enter(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.sample()


def child(mode: str, model_dir: str, seq: int, batch: int, steps: int) -> None:
    sampler = Sampler()
    sampler.start()
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    torch.manual_seed(0)
    sampler.enter("load")
    kwargs: dict = {"dtype": torch.float32 if mode == "fp32" else torch.bfloat16}
    if mode in ("nf4", "nf4+trim", "nf4+gc", "quantize"):
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=torch.bfloat16)
    if mode == "nf4-prequant":  # a checkpoint saved already quantized: its config carries the bnb settings
        model_dir = str(Path(model_dir) / "nf4")
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if mode == "quantize":
        model.save_pretrained(Path(model_dir) / "nf4")
        return
    after_load = _status()["VmRSS"]
    sampler.enter("prepare")
    if mode.startswith("nf4"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=mode == "nf4+gc",
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM", target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    trimmed = None
    if mode == "nf4+trim":
        import ctypes
        import gc

        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed = _status()["VmRSS"]
    after_prepare = _status()["VmRSS"]
    weight_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    sampler.enter("train")
    model.train()  # as the Trainer does (from_pretrained returns eval mode, where bnb repacks weights for inference)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(3, model.config.vocab_size, (batch, seq))
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    step_s = (time.perf_counter() - t0) / steps
    sampler.enter("done")
    sampler.stop.set()
    # VmHWM, not getrusage: ru_maxrss survives fork+exec and would report the parent's peak
    print("RESULT " + json.dumps({
        "mode": mode, "peaks": sampler.peaks, "ru_maxrss": _status()["VmHWM"],
        "rss_after_load": after_load, "rss_after_prepare": after_prepare, "rss_after_trim": trimmed,
        "param_bytes_in_memory": weight_bytes, "step_s": step_s, "loss": float(loss)}), flush=True)


def build_model(folder: Path, layers: int) -> dict[str, int]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers, num_attention_heads=16,
                      num_key_value_heads=4, head_dim=128, vocab_size=8000, max_position_embeddings=512,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(folder)
    total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head"))
    return {"total": total, "decoder_linear": linear}


def theoretical(counts: dict[str, int]) -> dict[str, float]:
    """Weight bytes: nf4 = 4 bits + double-quantised absmax (8 bits per 64 weights, fp32 per
    256 blocks) for decoder Linear weights; everything else stays fp32 after
    prepare_model_for_kbit_training."""
    other = counts["total"] - counts["decoder_linear"]
    nf4_per_weight = 0.5 + 1 / 64 + 4 / (64 * 256)
    return {"fp32": 4 * counts["total"], "bf16": 2 * counts["total"],
            "nf4": counts["decoder_linear"] * nf4_per_weight + 4 * other}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=9)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "MODEL_DIR"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.seq, args.batch, args.steps)
        return
    with tempfile.TemporaryDirectory(prefix="bench-qlora-") as tmp:
        t0 = time.perf_counter()
        counts = build_model(Path(tmp), args.layers)
        print(f"random Llama: {counts['total'] / 1e6:.0f}M params, decoder Linear {counts['decoder_linear'] / 1e6:.0f}M "
              f"({100 * counts['decoder_linear'] / counts['total']:.0f}%), saved as bf16 in "
              f"{time.perf_counter() - t0:.0f} s; LoRA r=8 on all projections, batch {args.batch} x {args.seq}, "
              f"{args.steps} AdamW steps", flush=True)
        theo = theoretical(counts)
        results = {}
        for mode in ("quantize", *MODES):
            env = {**os.environ, "DO_NOT_TRACK": "1"}
            if mode == "nf4+trim":
                env["MALLOC_ARENA_MAX"] = "2"
            if mode == "quantize":
                subprocess.run([sys.executable, __file__, "--child", mode, tmp], capture_output=True, check=True, env=env)
                continue
            proc = subprocess.run([sys.executable, __file__, "--child", mode, tmp, "--seq", str(args.seq), "--batch",
                                   str(args.batch), "--steps", str(args.steps)], capture_output=True, text=True, env=env)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(f"{mode}: child failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
                continue
            results[mode] = json.loads(line[len("RESULT "):])
            r = results[mode]
            print(f"{mode:9s} done: peak RSS {r['ru_maxrss'] / MIB:7.0f} MiB, step {r['step_s']:.1f} s", flush=True)
    print()
    print("MiB; peak RSS = VmHWM of the child; per phase: peak VmRSS (file-backed part at that moment) and max RssAnon")
    print(f"{'mode':12s} {'theory':>7s} {'params':>7s} {'peak RSS':>9s} {'load pk (file)':>15s} {'load anon':>9s} "
          f"{'after ld':>8s} {'train pk (file)':>16s} {'train anon':>10s} {'x bf16':>7s}")
    bf16_peak = results.get("bf16", {}).get("ru_maxrss")
    for mode, r in results.items():
        load = r["peaks"].get("load", {})
        train = r["peaks"].get("train", {})
        theory = theo["nf4" if mode.startswith("nf4") else mode]
        ratio = f"{r['ru_maxrss'] / bf16_peak:.2f}x" if bf16_peak else "-"
        print(f"{mode:12s} {theory / MIB:7.0f} {r['param_bytes_in_memory'] / MIB:7.0f} {r['ru_maxrss'] / MIB:9.0f} "
              f"{load.get('VmRSS', 0) / MIB:7.0f} ({load.get('file_at_peak', 0) / MIB:5.0f}) {load.get('RssAnon', 0) / MIB:9.0f} "
              f"{r['rss_after_load'] / MIB:8.0f} {train.get('VmRSS', 0) / MIB:7.0f} ({train.get('file_at_peak', 0) / MIB:6.0f}) "
              f"{train.get('RssAnon', 0) / MIB:10.0f} {ratio:>7s}")
        if r.get("rss_after_trim"):
            print(f"{'':12s} MALLOC_ARENA_MAX=2, malloc_trim(0) after prepare: RSS {r['rss_after_prepare'] / MIB:.0f} MiB")
    if "nf4" in results and bf16_peak:
        ratio = results["nf4"]["ru_maxrss"] / bf16_peak
        print(f"\nQLoRA nf4 peak / bf16 LoRA peak = {ratio:.2f} (target <= 0.5: {'PASS' if ratio <= 0.5 else 'FAIL'})")
        for other in ("nf4+trim", "nf4-prequant"):
            if other in results:
                print(f"{other} peak / bf16 LoRA peak = {results[other]['ru_maxrss'] / bf16_peak:.2f}")


if __name__ == "__main__":
    main()
