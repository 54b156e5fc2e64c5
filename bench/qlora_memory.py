"""Peak RSS of QLoRA (nf4) vs bf16 LoRA vs fp32 LoRA, each mode in a fresh process.

Also the weight bytes per kind (decoder Linear, embedding, lm_head, other, LoRA) in theory and
in memory, the logits' size and the activations' dtype. Target: QLoRA peak <= 0.5x bf16 LoRA
peak. Results, and why they differ from the target: docs/training.md, "Benchmarks".

Models: `--model random` (default) builds a random Llama whose decoder Linear layers dominate
(>= 400M parameters); `--model smollm2` measures the embedded default, SmolLM2-135M-Instruct,
converted from `configs/local.yaml`'s `model.gguf` by the pipeline's own converter (a folder
already in `data/models` is reused; `--models-dir` points elsewhere), with that config's
sequence length and batch (192 x 8); `--model-dir PATH` measures any local HF folder.

Each child samples its own /proc/self/status (VmRSS, RssAnon, RssFile) every 5 ms and
reports the peak per phase (imports, load, prepare, train), so the loader's transient memory
is separated from what training keeps. `nf4+trim` is nf4 with glibc's malloc_trim(0) after
loading: if it drops, the transient is freed memory the allocator kept, not live tensors.
`nf4-prequant` loads a checkpoint saved already quantized (quantize once, store, load 4-bit),
so the bf16 weights are never read. `nf4+gc` adds gradient checkpointing (as the GPU recipe does), `bf16+gc` the same to bf16 LoRA,
so that the two compare like for like. `nf4-noupcast` skips prepare_model_for_kbit_training (which
upcasts norms and embeddings to fp32, and with them every activation): what 4-bit alone changes.

    python bench/qlora_memory.py [--layers 9] [--seq 128] [--batch 1] [--steps 2]
    python bench/qlora_memory.py --model smollm2 [--config configs/local.yaml] [--models-dir DIR]
    python bench/qlora_memory.py --model-dir PATH --seq 192 --batch 8
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench/x.py` run as a script

from bench._qlora_model import (KINDS, ModelFolderError, bytes_by_kind, check_model_dir, local_shape,  # noqa: E402
                                smollm2_folder, theoretical, weight_counts)
from configs.errors import PipelineError  # noqa: E402

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = ("fp32", "bf16", "nf4", "nf4+trim", "nf4-prequant", "nf4-noupcast", "bf16+gc", "nf4+gc")


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


def _load(mode: str, model_dir: str, sampler: Sampler):
    import peft  # noqa: F401  (its RSS counts as imports, not as preparing)
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    sampler.enter("load")
    kwargs: dict = {"dtype": torch.float32 if mode == "fp32" else torch.bfloat16}
    if mode in ("nf4", "nf4+trim", "nf4+gc", "nf4-noupcast", "quantize"):
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=torch.bfloat16)
    # nf4-prequant: model_dir is a checkpoint saved already quantized; its config carries the bnb settings
    return AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)


def _prepare(mode: str, model):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if mode == "nf4-noupcast":  # norms and embedding stay bf16: only what LoRA needs for its gradients
        model.enable_input_require_grads()
    elif mode.startswith("nf4"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=mode == "nf4+gc",
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif mode == "bf16+gc":  # what prepare_model_for_kbit_training does for checkpointing, minus the upcasts
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return get_peft_model(model, LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM", target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))


def _trim() -> int:
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _status()["VmRSS"]


def _watch_residual(model) -> dict[str, str]:
    """The dtype the first decoder layer hands on: prepare_model_for_kbit_training upcasts norms
    and embeddings to fp32, and then the residual stream (every activation kept for backward)
    is fp32 too."""
    seen: dict[str, str] = {}
    layer = next((m for n, m in model.named_modules() if n.endswith("layers.0")), None)
    if layer is None:  # not a Llama-like layout: reported as "?"
        return seen

    def hook(_module, _inputs, output) -> None:
        seen["dtype"] = str((output[0] if isinstance(output, tuple) else output).dtype).removeprefix("torch.")

    layer.register_forward_hook(hook)
    return seen


def child(mode: str, model_dir: str, seq: int, batch: int, steps: int, out: str | None) -> None:
    sampler = Sampler()
    sampler.start()
    import torch

    torch.manual_seed(0)
    model = _load(mode, model_dir, sampler)
    if mode == "quantize":
        model.save_pretrained(out)
        return
    after_load = _status()["VmRSS"]
    sampler.enter("prepare")
    model = _prepare(mode, model)
    trimmed = _trim() if mode == "nf4+trim" else None
    after_prepare = _status()["VmRSS"]
    kinds = bytes_by_kind(model)
    residual = _watch_residual(model)
    sampler.enter("train")
    model.train()  # as the Trainer does (from_pretrained returns eval mode, where bnb repacks weights for inference)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(3, model.config.vocab_size, (batch, seq))
    t0 = time.perf_counter()
    for _ in range(steps):
        res = model(input_ids=ids, labels=ids)
        logits_bytes = res.logits.numel() * res.logits.element_size()
        res.loss.backward()
        loss = float(res.loss)
        del res
        opt.step()
        opt.zero_grad(set_to_none=True)
    step_s = (time.perf_counter() - t0) / steps
    sampler.enter("done")
    sampler.stop.set()
    # VmHWM, not getrusage: ru_maxrss survives fork+exec and would report the parent's peak
    print("RESULT " + json.dumps({
        "mode": mode, "peaks": sampler.peaks, "ru_maxrss": _status()["VmHWM"],
        "rss_after_load": after_load, "rss_after_prepare": after_prepare, "rss_after_trim": trimmed,
        "param_bytes_in_memory": sum(kinds.values()), "bytes_by_kind": kinds, "logits_bytes": logits_bytes,
        "residual_dtype": residual.get("dtype", "?"), "step_s": step_s, "loss": loss}), flush=True)


def build_model(folder: Path, layers: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers, num_attention_heads=16,
                      num_key_value_heads=4, head_dim=128, vocab_size=8000, max_position_embeddings=512,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(folder)


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(unknown) or '(none given)'}; "
                                         f"choose from {','.join(MODES)}")
    return modes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("random", "smollm2"), default="random",
                    help="random: a >= 400M random Llama built here; smollm2: --config's model.gguf, converted once")
    ap.add_argument("--model-dir", type=Path, help="measure this local Llama-like Hugging Face folder (LoRA on q_proj ... down_proj) instead")
    ap.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "local.yaml",
                    help="for --model smollm2: the config whose model.gguf, max_seq_len and batch are used")
    ap.add_argument("--models-dir", type=Path, help="for --model smollm2: where converted folders live "
                    "(default: the config's <data_dir>/models)")
    ap.add_argument("--layers", type=int, default=9, help="random Llama only")
    ap.add_argument("--seq", type=int, help="tokens per row (default: 128; smollm2: the config's max_seq_len)")
    ap.add_argument("--batch", type=int, help="rows per step (default: 1; smollm2: the config's batch)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--modes", type=_modes, default=MODES, help=f"comma-separated subset of {','.join(MODES)}")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "MODEL_DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.model_dir is not None and args.model != "random":
        ap.error("give --model smollm2 or --model-dir PATH, not both")
    if args.child:
        return args
    seq, batch = local_shape(args.config) if args.model == "smollm2" else (128, 1)
    args.seq = args.seq if args.seq is not None else seq
    args.batch = args.batch if args.batch is not None else batch
    return args


def resolve_model(args: argparse.Namespace, tmp: Path) -> tuple[Path, str]:
    """The folder to measure and how to name it in the output."""
    if args.model_dir is not None:
        folder = check_model_dir(args.model_dir)
        return folder, str(folder)
    if args.model == "smollm2":
        folder = smollm2_folder(args.config, args.models_dir)
        return folder, f"SmolLM2-135M-Instruct ({folder.name})"
    t0 = time.perf_counter()
    folder = tmp / "random"
    build_model(folder, args.layers)
    return folder, f"random Llama, {args.layers} layers (built and saved as bf16 in {time.perf_counter() - t0:.0f} s)"


def run_modes(args: argparse.Namespace, folder: Path, prequant: Path) -> dict[str, dict]:
    results = {}
    shape = ["--seq", str(args.seq), "--batch", str(args.batch), "--steps", str(args.steps)]
    wanted = args.modes if "nf4-prequant" not in args.modes else ("quantize", *args.modes)
    for mode in wanted:
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        if mode == "nf4+trim":
            env["MALLOC_ARENA_MAX"] = "2"
        src = prequant if mode == "nf4-prequant" else folder
        cmd = [sys.executable, __file__, "--child", mode, str(src), *shape]
        if mode == "quantize":
            subprocess.run([*cmd, "--out", str(prequant)], capture_output=True, check=True, env=env)
            continue
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{mode}: child failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            continue
        results[mode] = r = json.loads(line[len("RESULT "):])
        print(f"{mode:12s} done: peak RSS {r['ru_maxrss'] / MIB:7.0f} MiB, step {r['step_s']:.1f} s", flush=True)
    return results


def print_counts(name: str, counts: dict[str, int], args: argparse.Namespace) -> None:
    share = {k: 100 * counts[k] / counts["total"] for k in KINDS}
    print(f"{name}: {counts['total'] / 1e6:.1f}M params: decoder Linear {counts['decoder_linear'] / 1e6:.1f}M "
          f"({share['decoder_linear']:.0f}%), embedding {counts['embedding'] / 1e6:.1f}M ({share['embedding']:.0f}%"
          f"{', tied to lm_head' if counts['tied'] else ''}), lm_head {counts['lm_head'] / 1e6:.1f}M, "
          f"other {counts['other'] / 1e6:.2f}M; LoRA r=8 on all projections, batch {args.batch} x {args.seq}, "
          f"{args.steps} AdamW steps", flush=True)


def print_table(results: dict[str, dict], theo: dict[str, float]) -> None:
    print("\nMiB; peak RSS = VmHWM of the child; per phase: peak VmRSS (file-backed part at that moment) and max RssAnon")
    print(f"{'mode':12s} {'theory':>7s} {'params':>7s} {'imports':>7s} {'peak RSS':>9s} {'load pk (file)':>15s} {'load anon':>9s} "
          f"{'after ld':>8s} {'train pk (file)':>16s} {'train anon':>10s} {'x bf16':>7s}")
    bf16_peak = results.get("bf16", {}).get("ru_maxrss")
    for mode, r in results.items():
        load = r["peaks"].get("load", {})
        train = r["peaks"].get("train", {})
        theory = theo[mode.split("+")[0].split("-")[0]]
        ratio = f"{r['ru_maxrss'] / bf16_peak:.2f}x" if bf16_peak else "-"
        imports = r["peaks"].get("imports", {}).get("VmRSS", 0)
        print(f"{mode:12s} {theory / MIB:7.0f} {r['param_bytes_in_memory'] / MIB:7.0f} {imports / MIB:7.0f} "
              f"{r['ru_maxrss'] / MIB:9.0f} "
              f"{load.get('VmRSS', 0) / MIB:7.0f} ({load.get('file_at_peak', 0) / MIB:5.0f}) {load.get('RssAnon', 0) / MIB:9.0f} "
              f"{r['rss_after_load'] / MIB:8.0f} {train.get('VmRSS', 0) / MIB:7.0f} ({train.get('file_at_peak', 0) / MIB:6.0f}) "
              f"{train.get('RssAnon', 0) / MIB:10.0f} {ratio:>7s}")
        if r.get("rss_after_trim"):
            print(f"{'':12s} MALLOC_ARENA_MAX=2, malloc_trim(0) after prepare: RSS {r['rss_after_prepare'] / MIB:.0f} MiB")


def print_kinds(results: dict[str, dict], counts: dict[str, int]) -> None:
    print("\nweights in memory per kind after prepare (MiB; nf4 includes its quantization state), and the logits")
    print(f"{'mode':12s} " + " ".join(f"{k:>14s}" for k in KINDS) + f" {'logits':>8s} {'residual':>9s}")
    for mode, r in results.items():
        print(f"{mode:12s} " + " ".join(f"{r['bytes_by_kind'][k] / MIB:14.1f}" for k in KINDS)
              + f" {r['logits_bytes'] / MIB:8.0f} {r['residual_dtype']:>9s}")
    print(f"{'(params)':12s} " + " ".join(f"{counts[k] / 1e6:13.1f}M" for k in KINDS))


def print_verdict(results: dict[str, dict], theo: dict[str, float], counts: dict[str, int]) -> None:
    bf16_peak = results.get("bf16", {}).get("ru_maxrss")
    if "nf4" not in results or not bf16_peak:
        return
    ratio = results["nf4"]["ru_maxrss"] / bf16_peak
    print(f"\nQLoRA nf4 peak / bf16 LoRA peak = {ratio:.2f} (target <= 0.5: {'PASS' if ratio <= 0.5 else 'FAIL'})")
    for other in ("nf4+trim", "nf4-prequant", "nf4-noupcast", "nf4+gc"):
        if other in results:
            print(f"{other} peak / bf16 LoRA peak = {results[other]['ru_maxrss'] / bf16_peak:.2f}")
    if "nf4+gc" in results and "bf16+gc" in results:
        print(f"both with gradient checkpointing: nf4+gc / bf16+gc = "
              f"{results['nf4+gc']['ru_maxrss'] / results['bf16+gc']['ru_maxrss']:.2f}")
    base = {m: results[m]["peaks"].get("imports", {}).get("VmRSS", 0) for m in ("bf16", "nf4")}
    print(f"above the libraries' RSS after imports ({base['bf16'] / MIB:.0f} MiB): nf4 / bf16 = "
          f"{(results['nf4']['ru_maxrss'] - base['nf4']) / (bf16_peak - base['bf16']):.2f}")
    unquantized = counts["total"] - counts["decoder_linear"]
    print(f"weights alone, in theory: nf4 / bf16 = {theo['nf4'] / theo['bf16']:.2f}; the "
          f"{100 * unquantized / counts['total']:.0f}% of parameters 4-bit does not quantize (embedding, lm_head, "
          f"norms) are {4 * unquantized / MIB:.0f} MiB in fp32 after prepare_model_for_kbit_training, "
          f"vs {2 * unquantized / MIB:.0f} MiB in bf16 LoRA")
    logits = {m: results[m]["logits_bytes"] / MIB for m in ("bf16", "nf4")}
    print(f"logits tensor per step (batch x seq x vocab): {logits['bf16']:.0f} MiB in bf16 LoRA, "
          f"{logits['nf4']:.0f} MiB in nf4; activations between layers: {results['bf16']['residual_dtype']} in bf16 "
          f"LoRA, {results['nf4']['residual_dtype']} in nf4")


def main() -> None:
    try:
        args = parse_args()
        if args.child:
            child(args.child[0], args.child[1], args.seq or 128, args.batch or 1, args.steps, args.out)
            return
        with tempfile.TemporaryDirectory(prefix="bench-qlora-") as tmp:
            folder, name = resolve_model(args, Path(tmp))
            counts = weight_counts(folder)
            print_counts(name, counts, args)
            results = run_modes(args, folder, Path(tmp) / "nf4")
    except (ModelFolderError, PipelineError) as exc:  # a bad folder or config: the message names the fix
        sys.exit(f"qlora_memory: {exc}")
    theo = theoretical(counts)
    print_table(results, theo)
    print_kinds(results, counts)
    print_verdict(results, theo, counts)


if __name__ == "__main__":
    main()
