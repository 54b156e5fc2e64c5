"""Read a YAML config once, apply `--set a.b=c` overrides, validate, resolve paths.

Every problem is collected and raised together as one ConfigError naming the file, the
dotted field and what is expected, so a bad config fails before any work starts:

    configs/local.yaml: 2 problems
      - train.max_steps: Input should be greater than 0 (got -1, from --set)
      - lora.rank: unknown field; expected one of: alpha, bias, dropout, r, target_modules
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from configs.errors import ConfigError
from configs.pipeline import PipelineConfig


def project_root_for(path: Path) -> Path:
    """The folder relative paths in `path` are resolved against: the parent of its
    `configs/` folder, else the folder holding the file. Never the cwd."""
    path = Path(path).expanduser().resolve()
    for parent in path.parents:
        if parent.name == "configs":
            return parent.parent
    return path.parent


def load_config(path: Path, overrides: Sequence[str] = (), *, root: Path | None = None) -> PipelineConfig:
    """Validated, path-resolved PipelineConfig from a YAML file plus `key.sub=value` overrides
    (values parsed as YAML: `5` is an int, `[a, b]` a list, `null` None)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; pass an existing YAML file (e.g. configs/local.yaml)") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (model:, data:, ...), "
                          f"got {type(data).__name__}")
    problems: list[str] = []
    overridden: set[str] = set()
    for item in overrides:
        key = _apply_override(data, item, problems)
        if key:
            overridden.add(key)
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_merge(_describe(err, overridden) for err in exc.errors()))
        cfg = None
    if problems or cfg is None:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n{lines}")
    return cfg.resolved(root if root is not None else project_root_for(path))


def _apply_override(data: dict[str, Any], item: str, problems: list[str]) -> str | None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        problems.append(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. train.max_steps=5")
        return None
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problems.append(f"--set {item!r}: value is not valid YAML ({exc.__class__.__name__})")
        return None
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            problems.append(f"--set {item!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
            return None
        node = nxt
    node[parts[-1]] = value
    return key


def _describe(err: Any, overridden: set[str]) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"]]
    # pydantic adds the tag of a failing union member (e.g. 'list[str]'); drop it from the name
    loc = [p for p in loc if not (p.startswith(("list[", "literal[", "Literal[")) or p in ("str", "int", "float"))]
    dotted = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        hint = f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""
        msg = f"unknown field{hint}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if "input" in err and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
    if any(dotted == k or dotted.startswith(k + ".") for k in overridden):
        msg += " [from --set]"
    return dotted, msg


def _merge(described: Any) -> list[str]:
    """One line per field: the members of a failing union are joined with 'or'."""
    merged: dict[str, list[str]] = {}
    for dotted, msg in described:
        merged.setdefault(dotted, [])
        if msg not in merged[dotted]:
            merged[dotted].append(msg)
    return [f"{dotted}: {' or '.join(msgs)}" for dotted, msgs in merged.items()]


def _allowed_fields(loc: list[str]) -> list[str]:
    model: Any = PipelineConfig
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return []
        model = _model_in(fields[part].annotation)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
