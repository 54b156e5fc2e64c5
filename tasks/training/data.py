"""The dataset a run trains and evaluates on: read, split held-out by prompt, written as JSONL.

Rows come from JSONL, JSON or Parquet (`data_files`), as chat, Alpaca or ShareGPT rows
(`row_formats`), each normalised to `{"messages": [...]}`. The split is written to
`<datasets_dir>/<name>/{train,eval}.jsonl`, which is all that training, evaluation and the
benchmark read (through `read_jsonl`).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from configs.data import DataConfig
from configs.errors import DataError
from tasks.training.data_files import read_jsonl, read_rows
from tasks.training.row_formats import ROLES, normalize_row

__all__ = ["ROLES", "PreparedData", "normalize_row", "prepare_data", "prompt_key", "prompt_overlap",
           "read_jsonl", "read_rows", "split_rows"]


@dataclass(frozen=True)
class PreparedData:
    train_path: Path
    eval_path: Path
    n_train: int
    n_eval: int
    n_skipped: int
    sha256: str
    n_prompt_overlap: int = 0  # eval rows whose normalised prompt is also in training: 0 by construction
    n_overlap_dropped: int = 0  # rows of a given eval file dropped because training has their prompt

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train_path"], d["eval_path"] = str(self.train_path), str(self.eval_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreparedData:
        """Back from `to_dict` (what the Prefect tasks pass between them)."""
        return cls(**{**d, "train_path": Path(d["train_path"]), "eval_path": Path(d["eval_path"])})


def prompt_key(messages: list[dict[str, str]]) -> str:
    """What makes two prompts the same: the user turns, case and whitespace aside (a system
    prompt alone does not make a prompt new)."""
    users = [" ".join(m["content"].split()).lower() for m in messages[:-1] if m["role"] == "user"]
    return "\n".join(users)


def prompt_overlap(train_rows: list[list[dict[str, str]]], eval_rows: list[list[dict[str, str]]]) -> int:
    """How many eval rows have a prompt (`prompt_key`) that training has too."""
    seen = {prompt_key(m) for m in train_rows}
    return sum(prompt_key(m) in seen for m in eval_rows)


def split_rows(rows: list[Any], eval_fraction: float, seed: int, max_eval: int | None = None) -> tuple[list[Any], list[Any]]:
    """Seeded split by prompt: rows with the same `prompt_key` land on the same side, so the
    held-out side shares no prompt with training. At least one row on each side."""
    groups: dict[str, list[int]] = {}
    for i, msgs in enumerate(rows):
        groups.setdefault(prompt_key(msgs), []).append(i)
    if len(groups) < 2:
        raise DataError(f"need at least 2 distinct prompts to split into train and eval, got {len(groups)}")
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    want = max(1, round(len(rows) * eval_fraction))
    if max_eval is not None:
        want = min(want, max_eval)
    held: list[int] = []
    for key in keys[:-1]:  # the last group always stays in training
        if len(held) >= want:
            break
        held.extend(groups[key])
    held_keys = {prompt_key(rows[i]) for i in held}
    train = [rows[i] for i in range(len(rows)) if prompt_key(rows[i]) not in held_keys]
    return train, [rows[i] for i in held[:want]]


def _write_jsonl(path: Path, rows: list[list[dict[str, str]]]) -> bytes:
    blob = "".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in rows).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return blob


def prepare_data(cfg: DataConfig, datasets_dir: Path) -> PreparedData:
    """Read (or generate) the rows, split them held-out by prompt and write
    `<datasets_dir>/<name>/{train,eval}.jsonl`."""
    out = Path(datasets_dir) / cfg.name
    skipped: list[tuple[int, str]] = []
    dropped = 0
    if cfg.generate is not None:
        from tasks.training.synthetic import generate_split

        train_raw, eval_raw = generate_split(cfg.generate, cfg.eval_fraction)
        train_rows, eval_rows = [normalize_row(r) for r in train_raw], [normalize_row(r) for r in eval_raw]
        if cfg.max_eval_examples:
            eval_rows = eval_rows[: cfg.max_eval_examples]
    else:
        rows, skipped = read_rows(cfg.path, cfg.on_bad_row)
        if cfg.eval_path is not None:
            train_rows = rows
            eval_rows, bad_eval = read_rows(cfg.eval_path, cfg.on_bad_row)
            skipped += bad_eval
            seen = {prompt_key(m) for m in train_rows}
            kept = [m for m in eval_rows if prompt_key(m) not in seen]
            dropped, eval_rows = len(eval_rows) - len(kept), kept
            if not eval_rows:
                raise DataError(f"every row of data.eval_path {cfg.eval_path} has a prompt that training has too; "
                                "a held-out set must not repeat training prompts")
            if cfg.max_eval_examples:
                eval_rows = eval_rows[: cfg.max_eval_examples]
        else:
            train_rows, eval_rows = split_rows(rows, cfg.eval_fraction, cfg.split_seed, cfg.max_eval_examples)
    digest = hashlib.sha256()
    digest.update(_write_jsonl(out / "train.jsonl", train_rows))
    digest.update(b"\0")
    digest.update(_write_jsonl(out / "eval.jsonl", eval_rows))
    return PreparedData(out / "train.jsonl", out / "eval.jsonl", len(train_rows), len(eval_rows), len(skipped),
                        digest.hexdigest(), n_prompt_overlap=prompt_overlap(train_rows, eval_rows),
                        n_overlap_dropped=dropped)
