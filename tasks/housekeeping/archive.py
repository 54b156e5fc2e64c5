"""The archive of one (log type, UTC day) group: a deterministic `.tar.gz` holding
MANIFEST.json (names, sizes, sha256, mtimes), SHA256SUMS (for `sha256sum -c` after a restore)
and the files, hashed while they are written so a file that changes mid-archive is caught.
Same files in, same bytes and same key out: that is what makes a re-run idempotent."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from configs.errors import RetentionError
from tasks.housekeeping.storage import CHUNK_BYTES

ARCHIVE_FORMAT = "mlops-log-archive/1"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    size_bytes: int
    sha256: str
    mtime: float = field(compare=False)


@dataclass(frozen=True)
class Manifest:
    log_type: str
    day: str
    files: tuple[ManifestEntry, ...]
    archive_key: str = ""
    archive_size_bytes: int = 0
    archive_sha256: str = ""

    def to_json(self, with_archive: bool = True) -> bytes:
        doc: dict[str, Any] = {
            "format": ARCHIVE_FORMAT, "log_type": self.log_type, "day": self.day,
            "files": [asdict(f) for f in self.files],
        }
        if with_archive:
            doc["archive"] = {"key": self.archive_key, "size_bytes": self.archive_size_bytes,
                              "sha256": self.archive_sha256}
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc.get("format") != ARCHIVE_FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, expected {ARCHIVE_FORMAT!r}")
            archive = doc["archive"]
            return cls(doc["log_type"], doc["day"], tuple(ManifestEntry(**f) for f in doc["files"]),
                       archive["key"], int(archive["size_bytes"]), archive["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RetentionError(f"manifest {where} is unreadable ({exc}); move it aside if it is not ours") from exc


def archive_key(log_type: str, day: str, files: tuple[ManifestEntry, ...]) -> str:
    """Same files (names, sizes, sha256) -> same key, so a re-run finds what an earlier run filed."""
    canon = json.dumps(sorted([f.name, f.size_bytes, f.sha256] for f in files), separators=(",", ":"))
    digest = hashlib.sha256(canon.encode()).hexdigest()[:16]
    return f"{log_type}/{day}/{log_type}_{day}_{digest}.tar.gz"


class _HashingWriter:
    """A file wrapper that hashes what is written through it (the archive's sha256 in one pass)."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.hash, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class _HashingReader:
    def __init__(self, raw: Any) -> None:
        self.raw, self.hash = raw, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        return data


def build_archive(manifest: Manifest, paths: dict[str, Path], out: Path, compress_level: int = 6) -> tuple[int, str]:
    """Write a reproducible .tar.gz (fixed owners, modes, member order, gzip mtime 0); return (size, sha256).

    Each file is hashed again while it is copied in: content that changed since it was first
    hashed raises RetentionError instead of producing an archive that disagrees with its manifest.
    """
    stamp = int(max((f.mtime for f in manifest.files), default=0))
    sums = "".join(f"{f.sha256}  {f.name}\n" for f in manifest.files).encode()

    def info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = size, mtime, 0o644, 0, 0, "", ""
        return ti

    with open(out, "wb") as raw:
        sink = _HashingWriter(raw)
        with gzip.GzipFile(filename="", mode="wb", compresslevel=compress_level, fileobj=sink, mtime=0) as gz, \
                tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT, copybufsize=CHUNK_BYTES) as tar:
            body = manifest.to_json(with_archive=False)
            tar.addfile(info("MANIFEST.json", len(body), stamp), io.BytesIO(body))
            tar.addfile(info("SHA256SUMS", len(sums), stamp), io.BytesIO(sums))
            for entry in manifest.files:
                with open(paths[entry.name], "rb") as src:
                    reader = _HashingReader(src)
                    tar.addfile(info(entry.name, entry.size_bytes, int(entry.mtime)), reader)
                if reader.hash.hexdigest() != entry.sha256:
                    raise RetentionError(f"{entry.name} changed while it was being archived; nothing was deleted, "
                                         "run retention again")
    return sink.size, sink.hash.hexdigest()
