"""What a retention run did, for people (`summary()`) and for a Prefect task (`to_dict()`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logging_lib.retention_plan import SkippedFile

_MIB = 1024 * 1024


@dataclass
class ArchiveResult:
    key: str
    log_type: str
    day: str
    files: int
    bytes_in: int
    archive_bytes: int
    status: str  # uploaded | already_uploaded | resumed | would_upload | would_delete_archived


@dataclass
class RetentionReport:
    log_dir: str
    destination: str
    dry_run: bool
    archives: list[ArchiveResult] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Small, JSON-ready: what a Prefect task returns."""
        counts: dict[str, int] = {}
        for a in self.archives:
            counts[a.status] = counts.get(a.status, 0) + 1
        return {"ok": self.ok, "dry_run": self.dry_run, "destination": self.destination,
                "archives": counts, "archive_keys": [a.key for a in self.archives],
                "deleted": len(self.deleted), "skipped": len(self.skipped), "pruned": len(self.pruned),
                "errors": list(self.errors)}

    def summary(self) -> str:
        by_status: dict[str, list[ArchiveResult]] = {}
        for a in self.archives:
            by_status.setdefault(a.status, []).append(a)
        parts = []
        for status, items in sorted(by_status.items()):
            n_in = sum(a.bytes_in for a in items) / _MIB
            n_out = sum(a.archive_bytes for a in items) / _MIB
            parts.append(f"{len(items)} {status.replace('_', ' ')} ({sum(a.files for a in items)} files, "
                         f"{n_in:.2f} MiB -> {n_out:.2f} MiB)")
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        verb = "would be deleted" if self.dry_run else "deleted"
        lines = [f"retention{' (dry run)' if self.dry_run else ''}: {self.log_dir} -> {self.destination}",
                 f"  archives: {', '.join(parts) if parts else 'none'}",
                 f"  local files {verb}: {len(self.deleted)}",
                 f"  kept: {len(self.skipped)}" + (" (" + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")"
                                                   if reasons else ""),
                 f"  backups {'to prune' if self.dry_run else 'pruned'}: {len(self.pruned)}",
                 f"  errors: {len(self.errors)}"]
        lines.extend(f"    {e}" for e in self.errors)
        return "\n".join(lines)
