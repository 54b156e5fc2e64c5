"""What to serve: a registry reference resolved to a base model plus adapter (or a merged model).

The registry resolver (`tasks.registry.versions.resolve_model(tracking_uri, ref)`) returns an object
with `name, version, base_model, adapter_dir, lora_rank, merged_dir, tags`; anything with
those attributes works here, so tests build inputs directly.

An adapter is served as `NAME-v<version>`, never as the bare NAME: vLLM reloading an adapter in
place under one name can reuse stale prefix-cache blocks, and a server that already lists a
name would otherwise keep answering with the old version. Several versions of one base (a
champion and its candidate) share one vLLM as several LoRA modules (`resolve_targets`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from configs.errors import ServingError
from configs.serving import VLLM_LORA_RANKS, ServingConfig

# `name` or `org/name`, as the hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


class LoraModule(NamedTuple):
    """One adapter in a vLLM: clients ask for it as `served_name`."""

    served_name: str
    adapter_dir: str
    rank: int
    registry_version: str | None = None


@dataclass(frozen=True)
class ServeTarget:
    """`served_name` is what clients put in `model`; with an adapter, the base model answers
    as `base_name` and the adapter as `served_name`. `adapters` are more LoRA modules served
    beside that primary one; `refs` maps each registry reference asked for to its served name."""

    served_name: str
    model_path: str
    base_name: str
    adapter_dir: str | None = None
    lora_rank: int | None = None
    registry_name: str | None = None
    registry_version: str | None = None
    adapters: tuple[LoraModule, ...] = ()
    refs: tuple[tuple[str, str], ...] = ()

    @property
    def lora_modules(self) -> tuple[LoraModule, ...]:
        """Every adapter this vLLM serves, the primary first."""
        primary = (LoraModule(self.served_name, self.adapter_dir, self.lora_rank or 1, self.registry_version),) \
            if self.adapter_dir else ()
        return primary + self.adapters


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


def versioned_name(name: str, version: str | None) -> str:
    """`NAME-v<version>`; a version-less target keeps the plain name."""
    return f"{name}-v{version}" if version is not None else name


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
    return ServeTarget(versioned_name(name, version), str(base), f"{name}-base", str(adapter), int(rank),
                       str(resolved.name), version)


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
    return resolve_targets(tracking_uri, [ref], cfg, resolver)


def resolve_targets(tracking_uri: str, refs: Sequence[str], cfg: ServingConfig,
                    resolver: Callable[[str, str], Any] | None = None) -> ServeTarget:
    """Several references served by one vLLM: the first is the primary, the others become more
    LoRA modules of the same base; references to one version share one adapter."""
    if not refs:
        raise ServingError("no model reference to serve")
    if resolver is None:
        from tasks.registry.versions import resolve_model

        resolver = resolve_model
    resolved = [resolver(tracking_uri, ref) for ref in refs]
    planned = [plan_target(r, cfg) for r in resolved]
    primary, first_base = planned[0], _base_of(resolved[0])
    modules: dict[str, LoraModule] = {m.served_name: m for m in primary.lora_modules}
    owners = {primary.served_name: primary.registry_name}
    for ref, r, t in zip(refs[1:], resolved[1:], planned[1:]):
        if _base_of(r) != first_base:
            raise ServingError(f"{refs[0]} has base model {first_base} but {ref} has {_base_of(r)}; one vLLM serves "
                               "adapters of one base only: compare versions trained on the same base")
        same = (t.registry_name, t.registry_version) == (primary.registry_name, primary.registry_version)
        if owners.setdefault(t.served_name, t.registry_name) != t.registry_name:
            raise ServingError(f"{ref} would be served as {t.served_name!r}, a name another registered model already "
                               "has here; unset serving.served_model_name to serve each under its own name")
        if t.served_name in modules or (same and not t.adapter_dir):
            continue  # the same version again (an alias and its number): served once
        if not t.adapter_dir or not primary.adapter_dir:
            raise ServingError(f"{refs[0]} and {ref} cannot share one vLLM: only LoRA adapters of one base can "
                               "(turn serving.serve_merged off)")
        modules[t.served_name] = t.lora_modules[0]
    return replace(primary, adapters=tuple(modules.values())[1:] if primary.adapter_dir else (),
                   refs=tuple((ref, t.served_name) for ref, t in zip(refs, planned)))


def _base_of(resolved: Any) -> str:
    """The base as registered (the tag), so two versions whose base was fetched to two folders
    still count as one base."""
    tags = getattr(resolved, "tags", None) or {}
    return str(tags.get("base_model") or resolved.base_model)
