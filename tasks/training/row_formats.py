"""The row kinds users bring, each turned into one chat: `[{"role", "content"}, ...]`.

- chat: `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}`
- Alpaca: `{"instruction": ..., "input": ... (optional), "output": ...}`
- ShareGPT: `{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}`
  (`user`/`assistant` accepted as `from` too)

Every chat ends with the assistant's answer and has a user turn. A bad row is a ValueError
whose message says which key or turn is wrong; the file readers add the line or row number.
"""

from __future__ import annotations

from typing import Any

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
_FORMAT_KEYS = {"messages": "chat", "instruction": "Alpaca", "output": "Alpaca"}


def normalize_row(row: Any) -> list[dict[str, str]]:
    """The row's messages, or ValueError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if "conversations" in row:
        others = sorted(k for k in _FORMAT_KEYS if k in row)
        if others:
            raise ValueError(f"the row has 'conversations' (ShareGPT) and {', '.join(map(repr, others))} "
                             f"({_FORMAT_KEYS[others[0]]}); give each row one format")
        return _sharegpt(row["conversations"])
    if "messages" in row:
        return _chat(row["messages"])
    if "instruction" in row or "output" in row:
        return _alpaca(row)
    raise ValueError("expected 'messages' (chat) or 'instruction' + 'output' keys (Alpaca) "
                     "or 'conversations' (ShareGPT)")


def _chat(msgs: Any) -> list[dict[str, str]]:
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


def _alpaca(row: dict[str, Any]) -> list[dict[str, str]]:
    """Other columns are ignored, as for chat and ShareGPT rows (the well-known Alpaca files
    carry a pre-rendered `text` column too)."""
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"'{key}' must be a non-empty string")
    inp = row.get("input") or ""
    if not isinstance(inp, str):
        raise ValueError("'input' must be a string")
    user = row["instruction"] + (f"\n\n{inp}" if inp.strip() else "")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]


def _sharegpt(turns: Any) -> list[dict[str, str]]:
    if not isinstance(turns, list) or not turns:
        raise ValueError("'conversations' must be a non-empty list of turns")
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or set(t) != {"from", "value"}:
            raise ValueError(f"conversations[{i}] must be an object with exactly 'from' and 'value'")
        role = SHAREGPT_ROLES.get(t["from"]) if isinstance(t["from"], str) else None
        if role is None:
            raise ValueError(f"conversations[{i}].from is {t['from']!r}; expected one of human, gpt, system "
                             "(or user, assistant)")
        if not isinstance(t["value"], str) or not t["value"].strip():
            raise ValueError(f"conversations[{i}].value must be a non-empty string")
        out.append({"role": role, "content": t["value"]})
    if out[-1]["role"] != "assistant":
        raise ValueError(f"the last turn (conversations[{len(out) - 1}]) must be the model's answer "
                         "(from 'gpt' or 'assistant')")
    if not any(m["role"] == "user" for m in out):
        raise ValueError("there must be at least one turn from 'human' (or 'user')")
    return out


def drop_nulls(value: Any) -> Any:
    """An Arrow row as its writer meant it: columnar formats give every row every column (and
    every struct every field), filling absent ones with None, so None means absent here."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value
