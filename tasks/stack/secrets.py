"""The stack's secrets when the environment gives none: generated once, kept in
`<state dir>/stack.env` (mode 600, git-ignored), read back on every later command, so
Postgres keeps the password it was initialised with."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from configs.stack import GENERATED


def env_file(state_dir: Path) -> Path:
    return state_dir / "stack.env"


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                out[key.strip()] = value.strip()
    return out


def ensure_secrets(state_dir: Path, environ: Mapping[str, str]) -> Path:
    """Add a random value to stack.env for each secret neither the environment nor the file has."""
    path = env_file(state_dir)
    known = read_env_file(path)
    missing = [k for k in GENERATED if not environ.get(k) and not known.get(k)]
    if missing:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            for key in missing:
                fh.write(f"{key}={secrets.token_hex(16 if key == 'AWS_ACCESS_KEY_ID' else 24)}\n")
    return path
