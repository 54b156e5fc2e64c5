"""Label values as `| json` makes them: parsed values kept as-is, turned into text only when compared or shown.

Loki's rules: a JSON key becomes a label name with anything but [A-Za-z0-9_] replaced by `_`;
nested objects are flattened with `_`; null and arrays are skipped; a field named like a stream
label gets `_extracted` appended.
"""

from __future__ import annotations

import math
from typing import Any

def as_text(v: Any) -> str:
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return repr(v) if math.isfinite(v) else str(v)
    return str(v)


_sanitized: dict[str, str] = {}


def sanitize(key: str) -> str:
    """A JSON key as a label name (Loki: anything but [A-Za-z0-9_] becomes '_')."""
    out = _sanitized.get(key)
    if out is None:
        out = "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in key)
        out = "_" + out if out[:1].isdigit() else out
        if len(_sanitized) < 10_000:
            _sanitized[key] = out
    return out


def flatten(obj: dict, prefix: str, base: frozenset[str], out: dict[str, Any]) -> None:
    for k, v in obj.items():
        name = prefix + sanitize(k)
        if type(v) is dict:
            flatten(v, name + "_", base, out)
            continue
        if v is None or type(v) is list:
            continue
        if name in base:
            name += "_extracted"
        if name in out and prefix:
            continue  # a flattened a_b never replaces a field already named a_b (first wins)
        out[name] = ("true" if v else "false") if type(v) is bool else v



def nested_get(obj: dict, name: str, base: frozenset[str]) -> Any:
    """A label that is not a top-level scalar: maybe a flattened nested field (a_b), else None."""
    if not any(type(x) is dict for x in obj.values()):
        return None
    flat: dict[str, Any] = {}
    flatten(obj, "", base, flat)
    return flat.get(name)
