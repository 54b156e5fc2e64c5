"""Retention throughput versus the shell baseline, side by side in one run.

    python bench/retention_throughput.py [--mib 128] [--files 32] [--repeats 3]

Baseline: `tar czf` of the folder plus one boto3 `upload_file` of the result (what the old
guide did: `tar -czf ... && aws s3 cp ...`). Ours: `mlops retention`'s code path end to end:
plan, sha256 every file, deterministic tar.gz with manifest, manifest upload, archive upload,
full read-back verification (size + sha256), delete. Both write to the same S3 endpoint, a
moto server in its own process on loopback. Best of N per row; the input is realistic JSON
log lines (~270 B each), regenerated identically for every run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_logs(folder: Path, total_mib: int, files: int) -> int:
    rng = random.Random(0)
    per_file = total_mib * 1024 * 1024 // files
    total = 0
    (folder / "training").mkdir(parents=True)
    old = time.time() - 10 * 86_400
    for i in range(files):
        lines, size, step = [], 0, 0
        while size < per_file:
            step += 1
            line = (f'{{"timestamp":"2026-01-01T12:{step // 600 % 60:02d}:{step // 10 % 60:02d}.{step % 1000:03d}Z",'
                    f'"level":"INFO","message":"training_step","logger":"llama3_qlora_{i}","log_type":"training",'
                    f'"epoch":{step // 1000},"step":{step},"loss":{rng.uniform(0.1, 3):.6f},'
                    f'"learning_rate":{rng.uniform(1e-5, 2e-4):.3e},"gpu_memory_used":{rng.uniform(9000, 24000):.1f},'
                    f'"gpu_memory_total":24576.0,"run_id":"{uuid.UUID(int=rng.getrandbits(128)).hex}",'
                    f'"flow_run_id":"{uuid.UUID(int=i)}"}}\n')
            lines.append(line)
            size += len(line)
        path = folder / "training" / f"llama3_qlora_{i}_20260101_120000.log"
        path.write_text("".join(lines))
        os.utime(path, (old, old))
        total += size
    return total


def fresh_copy(pristine: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)  # copy2 keeps the old mtimes
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128, help="total log volume")
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import boto3

    from configs.retention import RetentionConfig
    from tasks.housekeeping.archive import build_archive  # noqa: F401
    from tasks.housekeeping.retention import retention_run  # noqa: F401  (same code as the CLI)

    port = _free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL_S3=endpoint)
    tmp = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    try:
        client = boto3.client("s3")
        for _ in range(100):
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001  (server still starting)
                time.sleep(0.1)
        client.create_bucket(Bucket="bench")
        pristine = tmp / "pristine"
        total = make_logs(pristine, args.mib, args.files)
        mib = total / 1024 / 1024
        print(f"input: {args.files} files, {mib:.1f} MiB of JSON log lines; S3: moto server on {endpoint}; "
              f"best of {args.repeats}; {os.cpu_count()} CPUs")

        rows: dict[str, list[float]] = {"tar czf": [], "boto3 upload_file": [], "baseline total": [],
                                        "ours: archive only": [], "ours: end to end": []}
        out_sizes: dict[str, int] = {}
        for r in range(args.repeats):
            # baseline: tar czf + one upload (no verification, no delete)
            work = fresh_copy(pristine, tmp / "work")
            archive = tmp / "baseline.tar.gz"
            t0 = time.perf_counter()
            subprocess.run(["tar", "czf", str(archive), "-C", str(work), "training"], check=True)
            t1 = time.perf_counter()
            client.upload_file(str(archive), "bench", f"baseline/{r}.tar.gz")
            t2 = time.perf_counter()
            rows["tar czf"].append(t1 - t0)
            rows["boto3 upload_file"].append(t2 - t1)
            rows["baseline total"].append(t2 - t0)
            out_sizes["baseline"] = archive.stat().st_size

            # ours, archive step alone (same gzip level as tar czf's default, 6)
            from logging_lib.retention_plan import plan_retention
            from tasks.housekeeping.archive import Manifest, ManifestEntry
            from tasks.housekeeping.storage import sha256_file

            group = plan_retention(work, ["training"], 7).groups[0]
            t0 = time.perf_counter()
            entries = tuple(ManifestEntry(f.name, *sha256_file(f.path), f.mtime) for f in group.files)
            size, _ = build_archive(Manifest("training", group.day, entries), {f.name: f.path for f in group.files},
                                    tmp / "ours.tar.gz", 6)
            rows["ours: archive only"].append(time.perf_counter() - t0)
            out_sizes["ours"] = size

            # ours, end to end: plan, hash, archive, upload, read back + verify, delete
            config = RetentionConfig(destination=f"s3://bench/ours-{r}", retry_attempts=1)
            t0 = time.perf_counter()
            report = retention_run(work, config, config.destination_url())
            rows["ours: end to end"].append(time.perf_counter() - t0)
            if not report.ok or len(report.deleted) != args.files:
                raise SystemExit(f"retention failed: {report.summary()}")

        base = min(rows["baseline total"])
        print(f"{'step':<42}{'best s':>8}{'MiB/s':>9}{'vs baseline':>13}")
        for name, times in rows.items():
            best = min(times)
            print(f"{name:<42}{best:>8.2f}{mib / best:>9.1f}{best / base:>12.2f}x")
        print(f"archive size: tar czf {out_sizes['baseline'] / 1024 / 1024:.2f} MiB, "
              f"ours {out_sizes['ours'] / 1024 / 1024:.2f} MiB (ratio {out_sizes['ours'] / out_sizes['baseline']:.3f})")
        print("ours end to end also reads the archive back and checks size + sha256, and deletes the files; "
              "the baseline does neither")
    finally:
        os.killpg(moto.pid, 15)
        moto.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
