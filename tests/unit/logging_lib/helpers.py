from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def read_events(root: Path, log_type: str | None = None) -> list[dict[str, Any]]:
    """Every JSON line under root (or root/<log_type>), parsed; fails on a torn line."""
    base = root / log_type if log_type else root
    events = []
    for path in sorted(base.rglob("*.log")):
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path} ends in a torn line"
        events.extend(orjson.loads(line) for line in data.splitlines())
    return events
