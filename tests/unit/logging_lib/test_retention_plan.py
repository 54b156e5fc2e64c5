"""Which files retention may touch: old, finished, regular .log files only."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from logging_lib import TrainingLogger
from logging_lib.retention_plan import SKIP_IN_USE, SKIP_RECENT, plan_retention

NOW = 1_767_225_600.0 + 12 * 3600  # 2026-01-01 12:00 UTC


def _file(log_dir: Path, rel: str, age_days: float) -> Path:
    path = log_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"message":"x"}\n')
    os.utime(path, (NOW - age_days * 86_400, NOW - age_days * 86_400))
    return path


def test_groups_old_files_per_type_and_day_and_keeps_recent_ones(log_dir):
    _file(log_dir, "training/a.log", 8)
    _file(log_dir, "training/b.log", 8.1)
    _file(log_dir, "training/c.log", 9)
    _file(log_dir, "api/d.log", 8)
    _file(log_dir, "training/fresh.log", 6.9)

    plan = plan_retention(log_dir, ["training", "api", "vllm"], 7, now=NOW, in_use=lambda p: False)

    assert [(g.log_type, g.day, [f.name for f in g.files]) for g in plan.groups] == [
        ("training", "2025-12-23", ["training/c.log"]),
        ("api", "2025-12-24", ["api/d.log"]),
        ("training", "2025-12-24", ["training/a.log", "training/b.log"]),
    ]
    assert [(s.name, s.reason) for s in plan.skipped] == [("training/fresh.log", SKIP_RECENT)]
    assert plan.absent_types == ("vllm",)


def test_ignores_what_is_not_a_regular_log_file(log_dir):
    target = _file(log_dir, "training/real.log", 10)
    _file(log_dir, "training/notes.txt", 10)
    _file(log_dir, "training/nested/deep.log", 10)
    (log_dir / "training" / "link.log").symlink_to(target)

    plan = plan_retention(log_dir, ["training"], 7, now=NOW, in_use=lambda p: False)

    assert [f.name for f in plan.files] == ["training/real.log"]


def test_a_file_held_by_a_live_logger_is_never_planned(log_dir):
    with TrainingLogger("live", str(log_dir)) as logger:
        logger.log_epoch_start(epoch=1, total_epochs=1)
        old = time.time() - 30 * 86_400
        os.utime(logger.path, (old, old))

        plan = plan_retention(log_dir, ["training"], 7)

        assert plan.files == ()
        assert [(s.name, s.reason) for s in plan.skipped] == [(f"training/{Path(logger.path).name}", SKIP_IN_USE)]
    assert [f.name for f in plan_retention(log_dir, ["training"], 7).files] == [f"training/{Path(logger.path).name}"]


def test_a_missing_log_dir_says_how_to_point_at_the_right_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="--log-dir"):
        plan_retention(tmp_path / "nope", ["training"], 7)
