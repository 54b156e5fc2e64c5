"""Chat/instruction JSONL: reading with per-line errors, the held-out split (disjoint by prompt).

Rows are normalised to `{"messages": [...]}` (an instruction row becomes a user message plus
an assistant message) and the split is written to `<datasets_dir>/<name>/{train,eval}.jsonl`,
which is what training, evaluation and the benchmark read.
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

ROLES = ("system", "user", "assistant")
_MAX_LISTED = 20


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


def normalize_row(row: Any) -> list[dict[str, str]]:
    """The row's messages, or ValueError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or set(m) - {"role", "content"} or "role" not in m or "content" not in m:
                raise ValueError(f"messages[{i}] must be an object with exactly 'role' and 'content'")
            if m["role"] not in ROLES:
                raise ValueError(f"messages[{i}].role is {m['role']!r}; expected one of {', '.join(ROLES)}")
            if not isinstance(m["content"], str) or not m["content"].strip():
                raise ValueError(f"messages[{i}].content must be a non-empty string")
            out.append({"role": m["role"], "content": m["content"]})
        if out[-1]["role"] != "assistant":
            raise ValueError("the last message must be the assistant's answer (role 'assistant')")
        if not any(m["role"] == "user" for m in out):
            raise ValueError("there must be at least one 'user' message")
        return out
    if "instruction" in row or "output" in row:
        extra = set(row) - {"instruction", "input", "output"}
        if extra:
            raise ValueError(f"unknown keys {sorted(extra)}; an instruction row has instruction, input, output")
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ValueError(f"'{key}' must be a non-empty string")
        inp = row.get("input") or ""
        if not isinstance(inp, str):
            raise ValueError("'input' must be a string")
        user = row["instruction"] + (f"\n\n{inp}" if inp.strip() else "")
        return [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    raise ValueError("expected 'messages' (chat) or 'instruction' + 'output' keys")


def read_jsonl(path: Path, on_bad_row: str = "error") -> tuple[list[list[dict[str, str]]], list[tuple[int, str]]]:
    """All rows of `path` as message lists, plus `(line_number, reason)` for skipped rows.

    With `on_bad_row="error"` any bad row raises DataError listing the bad line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset file {path} not found; set data.path to an existing JSONL file")
    rows: list[list[dict[str, str]]] = []
    bad: list[tuple[int, str]] = []
    try:
        with path.open("rb") as fh:  # bytes: a line that is not UTF-8 is one bad row, not the whole file
            for lineno, raw in enumerate(fh, start=1):
                why = _parse_line(raw, lineno, rows)
                if why:
                    bad.append((lineno, why))
    except OSError as exc:
        raise DataError(f"cannot read dataset file {path}: {exc}") from exc
    if bad and on_bad_row == "error":
        listed = "\n".join(f"  line {n}: {why}" for n, why in bad[:_MAX_LISTED])
        more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise DataError(f"{path}: {len(bad)} bad row{'s' if len(bad) > 1 else ''} (fix them, or set "
                        f"data.on_bad_row: skip to drop and count them):\n{listed}{more}")
    if not rows:
        raise DataError(f"{path}: no usable rows" + (f" ({len(bad)} skipped as bad)" if bad else ""))
    return rows, bad


def _parse_line(raw: bytes, lineno: int, rows: list[list[dict[str, str]]]) -> str | None:
    """Append the row on this line to `rows`; return why it is bad instead, or None."""
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}); save the file as UTF-8"
    if not line.strip():
        return None
    try:
        rows.append(normalize_row(json.loads(line)))
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:  # includes integers too long to convert
        return str(exc)
    return None


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
        rows, skipped = read_jsonl(cfg.path, cfg.on_bad_row)
        if cfg.eval_path is not None:
            train_rows = rows
            eval_rows, bad_eval = read_jsonl(cfg.eval_path, cfg.on_bad_row)
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
