"""Files on disk under real concurrency: rollover, collisions, threads, processes, SIGKILL."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import threading

import orjson

from logging_lib import TrainingLogger, is_file_in_use
from tests.conftest import REPO_ROOT
from tests.unit.logging_lib.helpers import read_events


def test_rollover_starts_new_timestamped_files_and_never_rewrites_old_ones(log_dir):
    log = TrainingLogger("roll", log_dir=log_dir, max_bytes=4096)
    first = log.path
    for i in range(300):
        log.log_step(1, i, 0.5, 1e-4)
    log.close()
    files = sorted((log_dir / "training").glob("*.log"))
    assert len(files) > 5 and first in files
    assert all(re.fullmatch(r"roll_\d{8}_\d{6}(_\d+)?\.log", f.name) for f in files)
    # each closed file stops just past the limit (never truncated, never copied)
    sizes = [f.stat().st_size for f in files]
    assert all(s < 4096 + 300 for s in sizes)
    steps = sorted(e["step"] for e in read_events(log_dir, "training"))
    assert steps == list(range(300))


def test_files_created_in_the_same_second_do_not_collide(log_dir):
    paths = set()
    for _ in range(5):
        log = TrainingLogger("burst", log_dir=log_dir)
        log.log_epoch_start(1, 1)
        paths.add(log.path)
        log.close()
    assert len(paths) == 5
    assert len(read_events(log_dir, "training")) == 5


def test_current_file_is_in_use_until_closed_or_rolled_over(log_dir):
    log = TrainingLogger("live", log_dir=log_dir, max_bytes=2000)
    first = log.path
    log.log_epoch_start(1, 1)
    assert is_file_in_use(first)
    for i in range(40):
        log.log_step(1, i, 0.1, 0.1)
    assert log.path != first and not is_file_in_use(first) and is_file_in_use(log.path)
    current = log.path
    log.close()
    assert not is_file_in_use(current)
    assert not is_file_in_use(log_dir / "missing.log")


def test_threads_never_tear_or_lose_lines(log_dir):
    log = TrainingLogger("threads", log_dir=log_dir, max_bytes=64 * 1024)

    def work(t: int) -> None:
        for i in range(5000):
            log.log_step(1, t * 100_000 + i, 0.5, 1e-4, payload="y" * (i % 300))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    steps = [e["step"] for e in read_events(log_dir, "training")]
    assert len(steps) == 40_000 and len(set(steps)) == 40_000


def _process_writer(log_dir: str, proc: int, events: int) -> None:
    log = TrainingLogger("procs", log_dir=log_dir)
    per_thread = events // 2

    def work(t: int) -> None:
        for i in range(per_thread):
            log.log_step(1, (proc * 10 + t) * 1_000_000 + i, 0.5, 1e-4, pad="z" * (i % 200))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _shared_writer(log: TrainingLogger, proc: int, events: int) -> None:
    for i in range(events):
        log.log_step(1, proc * 1_000_000 + i, 0.5, 1e-4, pad="q" * (i % 500))


def test_four_processes_with_threads_lose_and_tear_nothing(log_dir):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(log_dir), p, 10_000)) for p in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    steps = [e["step"] for e in read_events(log_dir, "training")]
    assert len(steps) == 40_000 and len(set(steps)) == 40_000


def test_forked_processes_sharing_one_file_do_not_interleave(log_dir):
    log = TrainingLogger("shared", log_dir=log_dir)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_shared_writer, args=(log, p, 10_000)) for p in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log.close()
    files = list((log_dir / "training").glob("*.log"))
    assert len(files) == 1  # one file, four writers
    steps = [e["step"] for e in read_events(log_dir, "training")]
    assert len(steps) == 40_000 and len(set(steps)) == 40_000


KILLED_CHILD = """
import sys
from logging_lib import TrainingLogger
log = TrainingLogger("killed", log_dir=sys.argv[1])
i = 0
while True:
    log.log_step(1, i, 0.5, 1e-4, pad="p" * 200)
    sys.stdout.write(f"{i}\\n"); sys.stdout.flush()
    i += 1
"""


def test_sigkill_loses_at_most_the_line_being_written(log_dir):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(log_dir)], stdout=subprocess.PIPE,
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    acked = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        acked = int(line)
        if acked >= 3000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    (path,) = (log_dir / "training").glob("*.log")
    data = path.read_bytes()
    # every line in the file is whole JSON; every acknowledged call is there
    steps = [orjson.loads(line)["step"] for line in data.splitlines()]
    assert steps == list(range(len(steps)))
    assert len(steps) >= acked + 1
    assert data.endswith(b"\n")


def test_a_dropped_logger_gives_its_file_back(log_dir):
    import gc

    log = TrainingLogger("dropped", log_dir=log_dir)
    log.log_epoch_start(1, 1)
    path = log.path
    assert is_file_in_use(path)
    del log
    gc.collect()
    assert not is_file_in_use(path)


def test_a_logger_collected_while_another_is_being_created_does_not_deadlock(log_dir, monkeypatch):
    """The GC may run a dropped logger's finalizer while this thread holds the sink registry lock."""
    import gc

    from logging_lib import sink as sink_mod

    dropped = TrainingLogger("dropped", log_dir=log_dir)
    dropped.cycle = dropped  # only the cyclic GC frees it, at whatever allocation comes next
    dropped_path = dropped.path
    del dropped
    real_new_log_file = sink_mod.new_log_file

    def collect_then_create(directory, name):
        gc.collect()  # here the GC happens to run: inside acquire_sink, with the lock held
        return real_new_log_file(directory, name)

    monkeypatch.setattr(sink_mod, "new_log_file", collect_then_create)
    created: list[TrainingLogger] = []
    worker = threading.Thread(target=lambda: created.append(TrainingLogger("fresh", log_dir=log_dir)), daemon=True)
    worker.start()
    worker.join(timeout=20)

    assert not worker.is_alive(), "deadlocked: the finalizer waited for the lock its own thread held"
    assert created and not is_file_in_use(dropped_path)  # the dropped logger's file was released too
    created[0].close()
