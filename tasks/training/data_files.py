"""Dataset files by suffix: `.jsonl`, `.json`, `.parquet`; every row judged on its own.

- `.jsonl`: our own line reader (exact line numbers; a line that is not UTF-8 is one bad row).
- `.json`: an array of row objects, parsed with the standard library (rows numbered 1..N).
  A JSON-lines file named `.json` is read as JSONL. Not `datasets`: its JSON loader hands each
  row to pyarrow's JSON reader, which crashes the process (SIGSEGV) on a `null` row and turns
  a non-object row into `{"text": ...}`.
- `.parquet`: `datasets.Dataset.from_parquet`, kept in memory with its cache in a temporary
  folder (never the user's ~/.cache, never the network). Arrow gives every row every column,
  so None is read as absent (`row_formats.drop_nulls`).

A bad row is reported as `line N` / `row N` with its reason; `on_bad_row="error"` raises one
DataError listing them, `"skip"` drops and returns them. A file that cannot be read at all is
a DataError naming the file and what to fix.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from configs.errors import DataError
from tasks.training.row_formats import drop_nulls, normalize_row

SUFFIXES = (".jsonl", ".json", ".parquet")
_MAX_LISTED = 20
_PARQUET_WRITERS = "pandas.DataFrame.to_parquet, pyarrow.parquet.write_table or datasets.Dataset.to_parquet"

Rows = list[list[dict[str, str]]]
Bad = list[tuple[int, str]]


def read_rows(path: Path, on_bad_row: str = "error") -> tuple[Rows, Bad]:
    """All rows of a `.jsonl`, `.json` or `.parquet` file as message lists, plus
    `(line_or_row_number, reason)` for the bad rows skipped."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"dataset file {path}: unknown file type {suffix or '(no suffix)'!r}; "
                        f"use a file ending in {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise DataError(f"dataset file {path} is a folder; data.path and data.eval_path name one file")
    if not path.is_file():
        raise DataError(f"dataset file {path} not found; data.path and data.eval_path must name an "
                        f"existing {', '.join(SUFFIXES)} file")
    if suffix == ".jsonl":
        return read_jsonl(path, on_bad_row)
    raw = _json_array(path) if suffix == ".json" else _parquet_rows(path)
    if raw is None:  # JSON lines in a .json file
        return read_jsonl(path, on_bad_row)
    rows: Rows = []
    bad: Bad = []
    for n, row in enumerate(raw, start=1):
        try:
            rows.append(normalize_row(row))
        except ValueError as exc:
            bad.append((n, str(exc)))
    return _checked(path, rows, bad, on_bad_row, "row")


def read_jsonl(path: Path, on_bad_row: str = "error") -> tuple[Rows, Bad]:
    """All rows of `path` as message lists, plus `(line_number, reason)` for skipped rows.

    With `on_bad_row="error"` any bad row raises DataError listing the bad line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset file {path} not found; set data.path to an existing JSONL file")
    rows: Rows = []
    bad: Bad = []
    try:
        with path.open("rb") as fh:  # bytes: a line that is not UTF-8 is one bad row, not the whole file
            for lineno, raw in enumerate(fh, start=1):
                why = _parse_line(raw, lineno, rows)
                if why:
                    bad.append((lineno, why))
    except OSError as exc:
        raise DataError(f"cannot read dataset file {path}: {exc}") from exc
    return _checked(path, rows, bad, on_bad_row, "line")


def _checked(path: Path, rows: Rows, bad: Bad, on_bad_row: str, unit: str) -> tuple[Rows, Bad]:
    if bad and on_bad_row == "error":
        listed = "\n".join(f"  {unit} {n}: {why}" for n, why in bad[:_MAX_LISTED])
        more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise DataError(f"{path}: {len(bad)} bad row{'s' if len(bad) > 1 else ''} (fix them, or set "
                        f"data.on_bad_row: skip to drop and count them):\n{listed}{more}")
    if not rows:
        raise DataError(f"{path}: no usable rows" + (f" ({len(bad)} skipped as bad)" if bad else ""))
    return rows, bad


def _parse_line(raw: bytes, lineno: int, rows: Rows) -> str | None:
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


def _json_array(path: Path) -> list[Any] | None:
    """The rows of a JSON array file; None when the file is JSON lines (one object per line)."""
    what = "a .json file holds an array of row objects ([{...}, {...}]) or one object per line"
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read dataset file {path}: {exc}") from exc
    if blob.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _unless_one_object(path, blob, what)
    try:
        value = json.loads(blob.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte "
                        f"{exc.start + 1}); save the file as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                        f"{what}") from exc
    except RecursionError as exc:
        raise DataError(f"{path}: JSON nested too deeply; {what}") from exc
    except ValueError as exc:  # integers too long to convert
        raise DataError(f"{path} cannot be read as JSON ({exc}); {what}") from exc
    if not isinstance(value, list):
        raise DataError(f"{path} holds one JSON {type(value).__name__}, not rows; {what}")
    return value


def _unless_one_object(path: Path, blob: bytes, what: str) -> None:
    """A file starting with `{` is JSON lines, unless it is one object spread over many lines."""
    if len(blob.strip().splitlines()) < 2:
        return None
    try:
        json.loads(blob.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # not one object: lines, each judged on its own
        return None
    raise DataError(f"{path} holds one JSON object, not rows; {what}")


def _parquet_rows(path: Path) -> list[Any]:
    """Every row of a Parquet file (None-filled columns removed), read through `datasets`."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset
    from datasets.exceptions import DatasetsError

    fix = f"write it with {_PARQUET_WRITERS}"
    try:
        if pq.ParquetFile(path).metadata.num_rows == 0:
            return []
        with tempfile.TemporaryDirectory(prefix="mlops-datasets-") as cache, _datasets_quiet():
            table = Dataset.from_parquet(str(path), cache_dir=cache, keep_in_memory=True)
            return [drop_nulls(row) for row in table.to_list()]
    except (pa.ArrowException, DatasetsError, OSError, ValueError, TypeError) as exc:
        cause = exc.__cause__ or exc
        why = " ".join(str(cause).split())
        raise DataError(f"{path} cannot be read as Parquet ({type(cause).__name__}: {why}); {fix}") from exc


@contextlib.contextmanager
def _datasets_quiet() -> Iterator[None]:
    """No progress bars or info lines from `datasets` in our logs; the caller's setting comes back."""
    from datasets.utils import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled
    from datasets.utils.logging import get_verbosity, set_verbosity, set_verbosity_error

    bars, level = is_progress_bar_enabled(), get_verbosity()
    disable_progress_bars()
    set_verbosity_error()
    try:
        yield
    finally:
        set_verbosity(level)
        if bars:
            enable_progress_bars()
