"""A hub id without the hub: the project's tiny model placed in a Hugging Face cache folder
(`<HF_HOME>/hub/models--ORG--NAME/snapshots/<rev>/...` + `refs/main`), which transformers and
vLLM resolve like any downloaded model when HF_HUB_OFFLINE=1."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def put_in_hub_cache(model_dir: Path, hf_home: Path, repo_id: str) -> str:
    """Copy `model_dir` into the cache under `repo_id` (e.g. `mlops-test/tiny-llama`); returns `repo_id`."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    revision = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / revision
    shutil.copytree(model_dir, snapshot, ignore=shutil.ignore_patterns(".complete"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return repo_id
