"""Where log files live: `<log_dir>/<log_type>/<name>_<YYYYmmdd_HHMMSS>.log`."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

LOG_TYPES = ("training", "inference", "system", "api")
LOG_DIR_ENV = "MLOPS_LOG_DIR"
DEFAULT_LOG_DIR = "./logs"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def resolve_log_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """`--log-dir`, else $MLOPS_LOG_DIR, else ./logs; made absolute once, here."""
    raw = cli_value if cli_value not in (None, "") else os.environ.get(LOG_DIR_ENV) or DEFAULT_LOG_DIR
    return Path(raw).expanduser().resolve()


def safe_name(name: str) -> str:
    """A logger name usable in a file name (slashes and spaces become '-')."""
    cleaned = _SAFE_NAME.sub("-", str(name)).strip("-.")
    if not cleaned:
        raise ValueError(f"logger name {name!r} has no usable characters; use letters, digits, '.', '_' or '-'")
    return cleaned


def new_log_file(directory: Path, name: str) -> tuple[int, Path]:
    """Create (O_EXCL) a fresh timestamped file and return its append-only fd and path.

    Two files wanted in the same second get `_1`, `_2`, ... suffixes instead of colliding.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    base = f"{name}_{stamp}"
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for n in range(100_000):
        path = directory / (f"{base}.log" if n == 0 else f"{base}_{n}.log")
        try:
            return os.open(path, flags, 0o644), path
        except FileExistsError:
            continue
    raise OSError(f"could not create a new log file for {name!r} in {directory}: 100000 names taken this second")
