"""Log retention: archive old log files, upload, verify the upload, and only then delete them.

For each (log type, UTC day) group that `logging_lib.retention_plan` finds old enough:

1. hash every file (sha256) and build a deterministic `.tar.gz` holding MANIFEST.json
   (names, sizes, sha256, mtimes), SHA256SUMS (for `sha256sum -c` after a restore) and the files;
2. write the manifest next to where the archive goes (`<key>.manifest.json`): the intent;
3. upload the archive under `<log_type>/<YYYY-MM-DD>/<log_type>_<day>_<digest>.tar.gz`, where
   the digest is taken over the manifest, so the same files always get the same key;
4. read the archive back and compare size and sha256; only then
5. delete the local files, each re-checked just before, under an exclusive flock: not locked
   by a writer, not held open by any process (Linux: /proc/<pid>/fd), and unchanged since it
   was hashed. A file kept for any of these reasons is written as a `retention_kept` event.

Idempotence comes from step 2: a re-run first reads the manifests already filed for that day.
Files an archive that verifies already holds are deleted without a second upload; an archive
that was interrupted (manifest written, archive missing or partial) is rebuilt from exactly
its files under the same key. So a failure at any step neither loses nor duplicates data.
A destination that cannot be reached stops the run before anything is deleted; every failure
is written as a `retention_failed` event with its reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.errors import RetentionError
from configs.retention import RetentionConfig
from logging_lib.retention_plan import (SKIP_RECENT, ArchiveGroup, InUse, SkippedFile, in_use_now, in_use_reason,
                                        plan_retention)
from logging_lib.sink import claim_for_deletion
from tasks.housekeeping.archive import MANIFEST_SUFFIX, Manifest, ManifestEntry, archive_key, build_archive
from tasks.housekeeping.retention_report import ArchiveResult, RetentionReport
from tasks.housekeeping.storage import Destination, DestinationUnreachable, FileDestination, sha256_file

STAGING_DIRNAME = ".retention-staging"
LOCK_NAME = ".retention.lock"
SKIP_CHANGED = "changed after it was archived; kept"
SKIP_VANISHED = "vanished or unreadable while archiving"
_MIB = 1024 * 1024
_CLAIM_BATCH = 256  # files locked at once while deleting (each holds a descriptor)


@dataclass
class _Run:
    log_dir: Path
    config: RetentionConfig
    dest: Destination
    report: RetentionReport
    progress: Callable[[str], None]
    events: Any
    in_use: InUse | None
    dry_run: bool

    def say(self, message: str) -> None:
        self.progress(message)

    def event(self, name: str, level: str = "INFO", **fields: Any) -> None:
        if self.events is not None:
            self.events.log_event(name, level=level, **fields)


def run_retention(
    log_dir: Path,
    config: RetentionConfig,
    destination: Destination,
    *,
    dry_run: bool = False,
    now: float | None = None,
    progress: Callable[[str], None] | None = None,
    events: Any = None,
    in_use: InUse | None = None,
) -> RetentionReport:
    """Archive, upload, verify, delete (see the module docstring); errors are collected in the report.

    Raises RetentionError only when the run cannot start (destination unreachable, missing bucket,
    no credentials, unwritable folder, another run on this log dir); that too is logged as a
    `retention_failed` event. `events` is an optional SystemLogger. `in_use` adds a check of
    your own to the built-in ones (writer flock, /proc scan).
    """
    now = time.time() if now is None else now
    log_dir = Path(log_dir)
    report = RetentionReport(str(log_dir), destination.url, dry_run)
    run = _Run(log_dir, config, destination, report, progress or (lambda _m: None), events, in_use, dry_run)
    if not log_dir.is_dir():
        raise RetentionError(f"log dir {log_dir} does not exist; pass --log-dir or set $MLOPS_LOG_DIR")
    try:
        with _exclusive_run(log_dir, dry_run):
            plan = plan_retention(log_dir, config.log_types, config.retention_days, now=now,
                                  in_use=_with_builtin_checks(in_use))
            _keep(run, plan.skipped)
            run.say(f"{len(plan.files)} log files older than {config.retention_days:g} days in {len(plan.groups)} "
                    f"groups, {len(plan.skipped)} kept (recent or in use); destination {destination.url}")
            if plan.groups or config.keep_backups_days is not None:
                _check_destination(run)
            _run_groups(run, plan.groups, log_dir / STAGING_DIRNAME, now)
    except (RetentionError, OSError) as exc:
        error = exc if isinstance(exc, RetentionError) else RetentionError(f"retention of {log_dir} failed: {exc}")
        report.errors.append(str(error))
        run.event("retention_failed", level="ERROR", destination=destination.url, error=str(error))
        _summary_event(run)
        if error is exc:
            raise
        raise error from exc
    _summary_event(run)
    return report


def _with_builtin_checks(extra: InUse | None) -> InUse:
    builtin = in_use_now()
    if extra is None:
        return builtin
    return lambda path: in_use_reason(builtin, path) or in_use_reason(extra, path)


def _summary_event(run: _Run) -> None:
    report = run.report
    run.event("retention_summary", level="INFO" if report.ok else "ERROR", dry_run=run.dry_run,
              destination=run.dest.url, **{k: v for k, v in report.to_dict().items()
                                           if k in ("deleted", "skipped", "pruned")},
              archives=len(report.archives), errors=len(report.errors))


def _keep(run: _Run, skipped: tuple[SkippedFile, ...] | list[SkippedFile]) -> None:
    """Record files left in place; those kept for a reason other than their age also get an event."""
    run.report.skipped.extend(skipped)
    for s in skipped:
        if s.reason != SKIP_RECENT:
            run.event("retention_kept", level="WARNING", file=s.name, reason=s.reason)


def _run_groups(run: _Run, groups: tuple[ArchiveGroup, ...], staging: Path, now: float) -> None:
    report, config = run.report, run.config
    try:
        for group in groups:
            try:
                _process_group(run, group, staging)
            except DestinationUnreachable as exc:
                report.errors.append(f"{group.log_type}/{group.day}: {exc}")
                run.event("retention_failed", level="ERROR", source_log_type=group.log_type, day=group.day, error=str(exc))
                report.errors.append("stopped: the destination is unreachable; the remaining groups were not touched")
                break
            except RetentionError as exc:
                report.errors.append(f"{group.log_type}/{group.day}: {exc}")
                run.event("retention_failed", level="ERROR", source_log_type=group.log_type, day=group.day, error=str(exc))
        else:
            if config.keep_backups_days is not None:
                try:
                    _prune(run, config.keep_backups_days, now)
                except RetentionError as exc:
                    report.errors.append(f"pruning backups: {exc}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_destination(run: _Run) -> None:
    if run.dry_run and isinstance(run.dest, FileDestination) and not run.dest.root.exists():
        return  # a dry run creates nothing; an absent backup folder just holds nothing yet
    run.dest.check()


@contextlib.contextmanager
def _exclusive_run(log_dir: Path, dry_run: bool) -> Iterator[None]:
    """One retention run per log dir at a time (a cron'd CLI and the flow could overlap)."""
    if dry_run:
        yield
        return
    fd = os.open(log_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetentionError(f"another retention run is working on {log_dir}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def _hash_group(run: _Run, group: ArchiveGroup) -> tuple[list[ManifestEntry], dict[str, Path]]:
    entries: list[ManifestEntry] = []
    paths: dict[str, Path] = {}
    for f in group.files:
        try:
            size, sha = sha256_file(f.path)
        except OSError:
            _keep(run, [SkippedFile(f.name, SKIP_VANISHED)])
            continue
        if size != f.size_bytes:
            _keep(run, [SkippedFile(f.name, SKIP_CHANGED)])
            continue
        entries.append(ManifestEntry(f.name, size, sha, f.mtime))
        paths[f.name] = f.path
    return entries, paths


def _process_group(run: _Run, group: ArchiveGroup, staging: Path) -> None:
    entries, paths = _hash_group(run, group)
    pending = {e.name: e for e in entries}
    where = f"{group.log_type}/{group.day}"
    for sidecar in [k for k in run.dest.list(f"{where}/") if k.endswith(MANIFEST_SUFFIX)]:
        filed = Manifest.from_json(run.dest.read_bytes(sidecar), f"{run.dest.url}/{sidecar}")
        matches = [pending[e.name] for e in filed.files if pending.get(e.name) == e]  # local stat, filed content
        if not matches:
            continue
        size = run.dest.size(filed.archive_key)
        if size == filed.archive_size_bytes and \
                run.dest.digest(filed.archive_key) == (filed.archive_size_bytes, filed.archive_sha256):
            for e in matches:
                del pending[e.name]
            run.report.archives.append(ArchiveResult(filed.archive_key, group.log_type, group.day, len(matches),
                                                     sum(e.size_bytes for e in matches), filed.archive_size_bytes,
                                                     "would_delete_archived" if run.dry_run else "already_uploaded"))
            run.say(f"{where}: {len(matches)} files already in {filed.archive_key} (verified)"
                    + ("; would delete them" if run.dry_run else "; deleting them"))
            _delete_local(run, matches, paths)
        elif len(matches) == len(filed.files):
            for e in matches:
                del pending[e.name]
            _archive_upload_delete(run, group, tuple(sorted(matches, key=lambda e: e.name)), paths, staging,
                                   resumed=True)
        else:  # an archive that never completed and whose files have partly changed: not a backup of anything
            run.say(f"{where}: discarding the incomplete archive {filed.archive_key} (its files changed)")
            if not run.dry_run:
                run.dest.delete(filed.archive_key)
                run.dest.delete(sidecar)
    if pending:
        _archive_upload_delete(run, group, tuple(sorted(pending.values(), key=lambda e: e.name)), paths, staging,
                               resumed=False)


def _archive_upload_delete(run: _Run, group: ArchiveGroup, files: tuple[ManifestEntry, ...], paths: dict[str, Path],
                           staging: Path, *, resumed: bool) -> None:
    key = archive_key(group.log_type, group.day, files)
    bytes_in = sum(f.size_bytes for f in files)
    if run.dry_run:
        run.report.archives.append(ArchiveResult(key, group.log_type, group.day, len(files), bytes_in, 0, "would_upload"))
        run.report.deleted.extend(f.name for f in files)
        run.say(f"{group.log_type}/{group.day}: would archive {len(files)} files ({bytes_in / _MIB:.2f} MiB) "
                f"to {run.dest.url}/{key}, verify it, then delete them")
        return
    staging.mkdir(exist_ok=True)
    local = staging / Path(key).name
    t0 = time.perf_counter()
    try:
        size, sha = build_archive(Manifest(group.log_type, group.day, files), paths, local, run.config.compress_level)
    except OSError as exc:
        raise RetentionError(f"cannot build the archive for {group.log_type}/{group.day}: {exc}") from exc
    manifest = Manifest(group.log_type, group.day, files, key, size, sha)
    try:
        if run.dest.size(key) == size and run.dest.digest(key) == (size, sha):
            status = "already_uploaded"
            run.dest.put_bytes(manifest.to_json(), key + MANIFEST_SUFFIX)
        else:
            run.dest.put_bytes(manifest.to_json(), key + MANIFEST_SUFFIX)  # the intent, before the data
            run.dest.upload(local, key)
            got = run.dest.digest(key)
            if got != (size, sha):
                raise RetentionError(f"verification of {run.dest.url}/{key} failed: read back {got[0]} bytes with "
                                     f"sha256 {got[1][:12]}..., expected {size} bytes with {sha[:12]}...; "
                                     "nothing was deleted")
            status = "resumed" if resumed else "uploaded"
    finally:
        local.unlink(missing_ok=True)
    elapsed = time.perf_counter() - t0
    run.report.archives.append(ArchiveResult(key, group.log_type, group.day, len(files), bytes_in, size, status))
    run.say(f"{group.log_type}/{group.day}: {status.replace('_', ' ')} {len(files)} files "
            f"({bytes_in / _MIB:.2f} MiB -> {size / _MIB:.2f} MiB) as {key}, verified, in {elapsed:.1f} s")
    run.event("retention_archived", source_log_type=group.log_type, day=group.day, key=key, files=len(files),
              bytes_in=bytes_in, archive_bytes=size, archive_sha256=sha, status=status,
              duration_ms=round(elapsed * 1000, 1))
    _delete_local(run, files, paths)


def _delete_local(run: _Run, files: list[ManifestEntry] | tuple[ManifestEntry, ...], paths: dict[str, Path]) -> None:
    if run.dry_run:
        run.report.deleted.extend(f.name for f in files)
        return
    for start in range(0, len(files), _CLAIM_BATCH):
        batch = files[start:start + _CLAIM_BATCH]
        with claim_for_deletion([paths[f.name] for f in batch]) as busy:
            for f in batch:
                path = paths[f.name]
                why = busy.get(path) or (in_use_reason(run.in_use, path) if run.in_use is not None else None)
                if why:
                    _keep(run, [SkippedFile(f.name, why)])
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if st.st_size != f.size_bytes or st.st_mtime != f.mtime:
                    _keep(run, [SkippedFile(f.name, SKIP_CHANGED)])
                    continue
                try:
                    path.unlink()
                except OSError as exc:
                    raise RetentionError(f"archived {f.name} but could not delete it: {exc}") from exc
                run.report.deleted.append(f.name)


def _prune(run: _Run, keep_backups_days: float, now: float) -> None:
    """Remove archives (and their manifests) whose logs are older than keep_backups_days."""
    cutoff_day = time.strftime("%Y-%m-%d", time.gmtime(now - keep_backups_days * 86_400))
    ours = set(run.config.log_types)
    for key in run.dest.list(""):
        parts = key.split("/")
        if len(parts) != 3 or parts[0] not in ours or not (key.endswith(".tar.gz") or key.endswith(MANIFEST_SUFFIX)):
            continue
        if _is_day(parts[1]) and parts[1] < cutoff_day:
            if not run.dry_run:
                run.dest.delete(key)  # archive before its manifest: sorted order puts .tar.gz first
            run.report.pruned.append(key)
    if run.report.pruned:
        run.say(f"{'would prune' if run.dry_run else 'pruned'} {len(run.report.pruned)} backup objects of logs "
                f"from before {cutoff_day}")


def _is_day(text: str) -> bool:
    try:
        time.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def retention_run(
    log_dir: Path,
    config: RetentionConfig,
    destination_url: str,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> RetentionReport:
    """What `mlops retention` and the `log-retention` flow both call: open the destination, run, log events.

    Events go to `<log_dir>/system/retention_*.log` (not in a dry run, which writes nothing).
    """
    from tasks.housekeeping.storage import open_destination

    events = None if dry_run or not Path(log_dir).is_dir() else _LazyEvents(Path(log_dir))
    try:
        try:
            dest = open_destination(destination_url, endpoint_url=config.s3_endpoint_url,
                                    addressing_style=config.s3_addressing_style,
                                    connect_timeout_s=config.connect_timeout_s, retry_attempts=config.retry_attempts,
                                    retry_backoff_s=config.retry_backoff_s, on_retry=on_retry)
        except RetentionError as exc:
            if events is not None:
                events.log_event("retention_failed", level="ERROR", destination=destination_url, error=str(exc))
            raise
        return run_retention(Path(log_dir), config, dest, dry_run=dry_run, progress=progress, events=events)
    finally:
        if events is not None:
            events.close()


class _LazyEvents:
    """The retention SystemLogger, opened on the first event: a run never leaves an empty log file."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._logger: Any = None

    def log_event(self, event: str, level: str = "INFO", **fields: Any) -> None:
        if self._logger is None:
            from logging_lib import SystemLogger

            self._logger = SystemLogger("retention", str(self.log_dir))
        self._logger.log_event(event, level=level, **fields)

    def close(self) -> None:
        if self._logger is not None:
            self._logger.close()
