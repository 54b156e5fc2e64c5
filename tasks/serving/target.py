"""What to serve: a registry reference resolved to a base model plus adapter (or a merged model).

The registry resolver (`tasks.registry.versions.resolve_model(tracking_uri, ref)`) returns an object
with `name, version, base_model, adapter_dir, lora_rank, merged_dir, tags`; anything with
those attributes works here, so tests build inputs directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.errors import ServingError
from configs.serving import VLLM_LORA_RANKS, ServingConfig

# `name` or `org/name`, as the hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class ServeTarget:
    """`served_name` is what clients put in `model`; with an adapter, the base model answers
    as `base_name` and the adapter as `served_name`."""

    served_name: str
    model_path: str
    base_name: str
    adapter_dir: str | None = None
    lora_rank: int | None = None
    registry_name: str | None = None
    registry_version: str | None = None


def read_adapter_rank(adapter_dir: str | Path) -> int:
    """The LoRA rank `r` from a peft adapter folder's adapter_config.json."""
    path = Path(adapter_dir) / "adapter_config.json"
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ServingError(f"adapter folder {adapter_dir} has no adapter_config.json; is it a peft adapter?") from exc
    except json.JSONDecodeError as exc:
        raise ServingError(f"{path} is not valid JSON: {exc}") from exc
    rank = cfg.get("r")
    if not isinstance(rank, int) or rank <= 0:
        raise ServingError(f"{path} has no positive integer 'r' (LoRA rank); found {rank!r}")
    return rank


def max_lora_rank_arg(rank: int, limit: int) -> int:
    """vLLM's `--max-lora-rank`: the smallest value it accepts that holds `rank`."""
    if rank > limit:
        raise ServingError(f"adapter LoRA rank {rank} is above serving.max_lora_rank_limit {limit}; "
                           "raise the limit (costs memory) or retrain with a smaller rank")
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ServingError(f"adapter LoRA rank {rank} is above the largest rank vLLM supports ({VLLM_LORA_RANKS[-1]})")


def plan_target(resolved: Any, cfg: ServingConfig) -> ServeTarget:
    name = cfg.served_model_name or str(resolved.name)
    version = str(resolved.version) if getattr(resolved, "version", None) is not None else None
    if cfg.serve_merged:
        merged = getattr(resolved, "merged_dir", None)
        if not merged:
            raise ServingError(f"serving.serve_merged is on but model {resolved.name} v{version} has no merged folder; "
                               "merge it at registration or turn serve_merged off")
        _must_exist(merged, "merged model folder")
        return ServeTarget(name, str(merged), name, registry_name=str(resolved.name), registry_version=version)
    base = getattr(resolved, "base_model", None)
    if not base:
        raise ServingError(f"model {resolved.name} v{version} names no base model; cannot serve it")
    if looks_like_path(str(base)) and not Path(str(base)).exists():
        raise ServingError(f"base model folder {base} of {resolved.name} v{version} does not exist; "
                           "restore it or register the model again")
    adapter = getattr(resolved, "adapter_dir", None)
    if not adapter:
        return ServeTarget(name, str(base), name, registry_name=str(resolved.name), registry_version=version)
    _must_exist(adapter, "adapter folder")
    rank = getattr(resolved, "lora_rank", None) or read_adapter_rank(adapter)
    max_lora_rank_arg(int(rank), cfg.max_lora_rank_limit)  # fail before starting anything
    return ServeTarget(name, str(base), f"{name}-base", str(adapter), int(rank), str(resolved.name), version)


def looks_like_path(ref: str) -> bool:
    """A local folder (absolute, ./, ../, ~, or present on disk) rather than a hub id like
    `org/name`, which vLLM resolves itself (its cache, else a download)."""
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).exists() or not _HUB_ID.match(ref)


def is_local_folder(ref: str) -> bool:
    return Path(ref).expanduser().is_dir()


def _must_exist(path: str | Path, what: str) -> None:
    if not Path(path).exists():
        raise ServingError(f"{what} {path} does not exist")


def resolve_target(tracking_uri: str, ref: str, cfg: ServingConfig,
                   resolver: Callable[[str, str], Any] | None = None) -> ServeTarget:
    """Registry reference (`models:/NAME@candidate`, `models:/NAME/3`) -> what to serve."""
    if resolver is None:
        from tasks.registry.versions import resolve_model

        resolver = resolve_model
    return plan_target(resolver(tracking_uri, ref), cfg)
