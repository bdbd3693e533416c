"""The waits between commit attempts."""

from __future__ import annotations

import random

from arraylake.config import config
from arraylake.repos.v1.retry import CommitRetrySchedule


def test_the_documented_schedule() -> None:
    waits = list(CommitRetrySchedule().mean_waits())
    assert len(waits) == 29  # 30 attempts
    assert waits[:10] == [0, 0, 1, 2, 3, 8, 13, 18, 23, 28]
    assert waits[10:] == [30] * 19


def test_the_ramp_is_jittered_by_half_either_way() -> None:
    schedule = CommitRetrySchedule()
    for _ in range(20):
        waits = list(schedule.waits(random.Random()))
        assert waits[:4] == [0, 0, 1, 2]
        for wait, mean in zip(waits[4:], list(schedule.mean_waits())[4:], strict=True):
            assert 0.5 * mean <= wait <= 1.5 * mean


def test_the_config_keys() -> None:
    keys = {
        "max_commit_attempts": 6,
        "commit_start_mean_sleep_seconds": 1,
        "commit_sleep_increase_seconds": 1,
        "commit_max_mean_sleep_seconds": 1.5,
        "commit_jitter_factor": 0,
    }
    with config.set(keys):
        schedule = CommitRetrySchedule.from_config()
    assert list(schedule.waits()) == [0, 0, 1, 2, 1]
    with config.set({"commit_max_attempts": 3}):
        assert CommitRetrySchedule.from_config().max_attempts == 3
