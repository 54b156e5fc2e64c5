"""MLflow Model Registry: register an adapter, move aliases, resolve a reference to files.

Other stages call these plain functions with a tracking URI (SQLite path or server URL):

    m = resolve_model(uri, "models:/tiny-chat-lora@champion")
    m.base_model, m.adapter_dir, m.lora_rank, m.merged_dir

A version's tags carry what deployment needs (base_model, adapter_uri, lora_rank,
dataset_sha256, git_commit, eval metrics). MlflowException becomes RegistryError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from configs.errors import RegistryError

CANDIDATE = "candidate"
CHAMPION = "champion"
_REF = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    version: str
    base_model: str  # a local folder when one exists (or was downloaded), else a hub id
    adapter_dir: Path
    lora_rank: int
    merged_dir: Path | None
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    source: str = ""
    aliases: tuple[str, ...] = ()


def client_for(tracking_uri: str):
    """An MlflowClient for tracking + registry at `tracking_uri` (a SQLite file's folder is created)."""
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextmanager
def _registry_errors(what: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}") from exc


def register_adapter(tracking_uri: str, name: str, run_id: str, source: str, tags: dict[str, Any],
                     alias: str | None = CANDIDATE, description: str | None = None) -> str:
    """The version of `name` for this run's adapter (created once); returns its number.

    Idempotent, so a retried registration is safe: a version this run already registered from
    `source` is reused (its tags and alias set again) instead of creating a second one.
    Uses `create_model_version` (a plain folder is not an MLflow model flavor, so
    `mlflow.register_model` would fail and leave an empty registered model).
    """
    client = client_for(tracking_uri)
    str_tags = {k: str(v) for k, v in tags.items() if v is not None}
    with _registry_errors(f"registering {name} from run {run_id}"):
        from mlflow.exceptions import MlflowException

        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description="LoRA adapters fine-tuned by the pipeline")
        version = _version_of_run(client, name, run_id, source)
        if version is None:
            version = str(client.create_model_version(name=name, source=source, run_id=run_id, tags=str_tags,
                                                      description=description).version)
        else:  # an earlier try got this far: finish what it may not have
            for key, value in str_tags.items():
                client.set_model_version_tag(name, version, key, value)
        if alias:
            client.set_registered_model_alias(name, alias, version)
    return version


def _version_of_run(client: Any, name: str, run_id: str, source: str) -> str | None:
    """The oldest version of `name` registered from `run_id` and `source`, if any."""
    found = [v for v in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
             if v.source == source]
    return str(min(int(v.version) for v in found)) if found else None


def set_alias(tracking_uri: str, name: str, version: str | int, alias: str) -> None:
    client = client_for(tracking_uri)
    with _registry_errors(f"setting alias {alias!r} on {name} version {version}"):
        client.get_model_version(name, str(version))  # a clear error for a version that does not exist
        client.set_registered_model_alias(name, alias, str(version))


def promote(tracking_uri: str, name: str, version: str | int, alias: str = CHAMPION) -> None:
    """Point `alias` (default `champion`) at `version`; the previous holder loses it."""
    set_alias(tracking_uri, name, version, alias)
    client = client_for(tracking_uri)
    with _registry_errors(f"tagging {name} version {version}"):
        client.set_model_version_tag(name, str(version), f"promoted_to_{alias}", "true")


def get_alias_version(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version `alias` points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    client = client_for(tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise RegistryError(f"looking up alias {alias!r} of {name}: {exc.message}") from exc


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    m = _REF.match(ref.strip())
    if not m:
        raise RegistryError(f"model reference {ref!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    return m["name"], m["alias"], m["version"]


def resolve_model(tracking_uri: str, ref: str, download_dir: Path | None = None) -> ResolvedModel:
    """Files and facts for `models:/NAME@alias` or `models:/NAME/VERSION`.

    Artifacts in a local file store are used in place; others (S3, an MLflow server) are
    downloaded to `download_dir/NAME/VERSION/` (default: a temporary folder).
    """
    name, alias, version = parse_ref(ref)
    client = client_for(tracking_uri)
    with _registry_errors(f"resolving {ref}"):
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
        tags = dict(mv.tags or {})
    dest = Path(download_dir) if download_dir else None
    adapter_dir = _local_artifact(tags.get("adapter_uri") or mv.source, dest, name, mv.version, "adapter")
    merged_uri = tags.get("merged_uri")
    merged_dir = _local_artifact(merged_uri, dest, name, mv.version, "merged") if merged_uri else None
    base = tags.get("base_model", "")
    if not base:
        raise RegistryError(f"{name} version {mv.version} has no base_model tag; it was not registered by this pipeline")
    if not Path(base).is_dir() and tags.get("base_model_uri"):
        base = str(_local_artifact(tags["base_model_uri"], dest, name, mv.version, "base_model"))
    try:
        rank = int(tags.get("lora_rank", "0"))
    except ValueError:
        raise RegistryError(f"{name} version {mv.version}: lora_rank tag {tags.get('lora_rank')!r} is not a number") from None
    return ResolvedModel(name=name, version=str(mv.version), base_model=base, adapter_dir=adapter_dir, lora_rank=rank,
                         merged_dir=merged_dir, tags=tags, run_id=mv.run_id, source=mv.source,
                         aliases=tuple(getattr(mv, "aliases", None) or ()))


def _local_artifact(uri: str, dest: Path | None, name: str, version: Any, what: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path) if parsed.scheme else uri)
        if not path.exists():
            raise RegistryError(f"{name} version {version}: {what} folder {path} does not exist (moved or deleted?)")
        return path
    import tempfile

    import mlflow

    target = (dest or Path(tempfile.mkdtemp(prefix="mlops-model-"))) / name / str(version) / what
    target.mkdir(parents=True, exist_ok=True)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))
    except Exception as exc:  # mlflow raises MlflowException or the store's own (boto3, requests) errors
        raise RegistryError(f"{name} version {version}: downloading {what} from {uri} failed: {exc}") from exc


def list_models(tracking_uri: str) -> list[dict[str, Any]]:
    """Every registered model with its aliases and latest version (for `mlops registry list`)."""
    client = client_for(tracking_uri)
    with _registry_errors("listing registered models"):
        out = []
        for rm in client.search_registered_models():
            versions = client.search_model_versions(f"name = '{rm.name}'")
            out.append({"name": rm.name, "aliases": {a: str(v) for a, v in (rm.aliases or {}).items()},
                        "latest_version": max((int(v.version) for v in versions), default=None),
                        "versions": len(versions)})
        return out


def describe_model(tracking_uri: str, name: str) -> dict[str, Any]:
    """A registered model's versions with tags and aliases (for `mlops registry show`)."""
    client = client_for(tracking_uri)
    with _registry_errors(f"reading registered model {name}"):
        rm = client.get_registered_model(name)
        versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    by_version: dict[str, list[str]] = {}
    for alias, v in (rm.aliases or {}).items():
        by_version.setdefault(str(v), []).append(alias)
    return {"name": rm.name, "aliases": {a: str(v) for a, v in (rm.aliases or {}).items()}, "versions": [
        {"version": str(v.version), "run_id": v.run_id, "source": v.source, "aliases": sorted(by_version.get(str(v.version), [])),
         "tags": dict(v.tags or {}), "created_ms": v.creation_timestamp} for v in versions]}
