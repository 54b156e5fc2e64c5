"""Saving a tokenizer so that every consumer reads it: training (transformers 5.x here) and
vLLM's environment (its pin is transformers < 5.20)."""

from __future__ import annotations

import json
from pathlib import Path


def save_tokenizer(tokenizer, folder: Path) -> None:
    """save_pretrained, then make the files loadable by vLLM's older transformers too."""
    tokenizer.save_pretrained(folder)
    _make_tokenizer_portable(Path(folder))


def _make_tokenizer_portable(folder: Path) -> None:
    """Name the class older transformers (vLLM's pin is < 5.20) know, not a v5-only alias."""
    path = folder / "tokenizer_config.json"
    cfg = json.loads(path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = cfg.pop("extra_special_tokens", None)
    if isinstance(extra, list):  # v5 writes a list here; older versions expect a dict under this key
        cfg["additional_special_tokens"] = extra
    path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
