"""The model folder bench/qlora_memory.py measures, and its weights counted per kind.

Per kind because the 4-bit ratio depends on it: bitsandbytes quantizes only the decoder's
Linear weights; the embedding (and lm_head, shared with it when tied) stays in full precision
and `prepare_model_for_kbit_training` upcasts it to fp32. On a small model with a large
vocabulary (SmolLM2-135M: a 49152 x 576 tied embedding, 21% of its parameters) that part
alone caps the weight saving well above 0.5x.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

KINDS = ("decoder_linear", "embedding", "lm_head", "other", "lora")
# nf4 with double quantization: 4 bits, an 8-bit absmax per 64 weights, an fp32 per 256 absmax
NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)


class ModelFolderError(ValueError):
    """A --model-dir / --model choice that cannot be measured; the message names the fix."""


def kind_of(name: str) -> str:
    """The kind of a parameter or buffer from its (peft-wrapped or plain) dotted name."""
    if "lora_" in name:
        return "lora"
    if "embed_tokens" in name:
        return "embedding"
    if name.endswith("lm_head.weight") or ".lm_head." in name:
        return "lm_head"
    if "layers." in name and name.endswith(("proj.weight", "proj.base_layer.weight")):
        return "decoder_linear"
    return "other"


def safetensors_shapes(folder: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from the safetensors headers (8-byte length + JSON), no tensor read."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise ModelFolderError(f"{folder} holds no *.safetensors file; pass a Hugging Face model folder "
                               "saved with safetensors (save_pretrained does that)")
    shapes: dict[str, list[int]] = {}
    for file in files:
        with file.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        shapes.update({k: v["shape"] for k, v in header.items() if k != "__metadata__"})
    return shapes


def weight_counts(folder: Path) -> dict[str, int]:
    """Parameters per kind as stored; a tied lm_head is counted once (as the embedding)."""
    config = json.loads((Path(folder) / "config.json").read_text())
    tied = bool(config.get("tie_word_embeddings", False))
    counts = dict.fromkeys(KINDS, 0)
    for name, shape in safetensors_shapes(folder).items():
        if tied and kind_of(name) == "lm_head":
            continue
        n = 1
        for dim in shape:
            n *= dim
        counts[kind_of(name)] += n
    counts["tied"] = int(tied)
    counts["total"] = sum(counts[k] for k in KINDS)
    return counts


def theoretical(counts: dict[str, int]) -> dict[str, float]:
    """Weight bytes per mode: nf4 decoder Linear weights, everything else fp32 after
    prepare_model_for_kbit_training."""
    rest = counts["total"] - counts["decoder_linear"]
    return {"fp32": 4 * counts["total"], "bf16": 2 * counts["total"],
            "nf4": counts["decoder_linear"] * NF4_BYTES_PER_WEIGHT + 4 * rest}


def bytes_by_kind(model: Any) -> dict[str, int]:
    """Bytes in memory per kind: parameters (tied ones once), buffers, and the quantization
    state (absmax, nested absmax, code) that bitsandbytes keeps beside each 4-bit weight."""
    out = dict.fromkeys(KINDS, 0)
    seen: set[int] = set()
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if id(t) in seen:
            continue
        seen.add(id(t))
        out[kind_of(name)] += t.numel() * t.element_size()
        state = getattr(t, "quant_state", None)
        if state is not None:
            out[kind_of(name)] += _quant_state_bytes(state)
    return out


def _quant_state_bytes(state: Any) -> int:
    total = 0
    for attr in ("absmax", "code", "offset"):
        t = getattr(state, attr, None)
        if t is not None and hasattr(t, "numel"):
            total += t.numel() * t.element_size()
    nested = getattr(state, "state2", None)
    return total + (_quant_state_bytes(nested) if nested is not None else 0)


def check_model_dir(path: Path) -> Path:
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise ModelFolderError(f"--model-dir {path} has no config.json; pass a Hugging Face model folder "
                               "(e.g. data/models/gguf-SmolLM2-...)")
    safetensors_shapes(path)
    return path


def smollm2_folder(config_path: Path, models_dir: Path | None) -> Path:
    """The converted folder of the config's `model.gguf`: reused when one with a matching
    manifest is in `models_dir` (default: the config's `<data_dir>/models`), else converted
    there once by the pipeline's own converter."""
    from configs.loader import load_config
    from tasks.training.gguf_source import ensure_converted

    cfg = load_config(config_path)
    if cfg.model.gguf is None:
        raise ModelFolderError(f"{config_path} has no model.gguf section; --model smollm2 reads the GGUF source "
                               "from it (configs/local.yaml has one), or pass --model-dir")
    return ensure_converted(cfg.model.gguf, models_dir if models_dir is not None else cfg.paths.models_dir,
                            progress=lambda msg: print(msg, flush=True))


def local_shape(config_path: Path) -> tuple[int, int]:
    """(max_seq_len, per_device_batch_size) the config trains with."""
    from configs.loader import load_config

    cfg = load_config(config_path)
    return cfg.model.max_seq_len, cfg.train.per_device_batch_size
