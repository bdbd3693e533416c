"""How long a commit waits before each retry after losing the race for its branch."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from arraylake.config import config as _config

FIXED_WAITS = (0.0, 0.0, 1.0, 2.0)


@dataclass(frozen=True)
class CommitRetrySchedule:
    """The waits between commit attempts: 0 s, 0 s, 1 s, 2 s, then a jittered linear ramp with a cap."""

    max_attempts: int = 30
    start_mean_sleep: float = 3.0
    sleep_increase: float = 5.0
    max_mean_sleep: float = 30.0
    jitter: float = 0.5

    @classmethod
    def from_config(cls) -> CommitRetrySchedule:
        attempts = _config.get("max_commit_attempts", None)
        if attempts is None:
            attempts = _config.get("commit_max_attempts", cls.max_attempts)
        return cls(
            max_attempts=int(attempts),
            start_mean_sleep=float(_config.get("commit_start_mean_sleep_seconds", cls.start_mean_sleep)),
            sleep_increase=float(_config.get("commit_sleep_increase_seconds", cls.sleep_increase)),
            max_mean_sleep=float(_config.get("commit_max_mean_sleep_seconds", cls.max_mean_sleep)),
            jitter=float(_config.get("commit_jitter_factor", cls.jitter)),
        )

    def mean_waits(self) -> Iterator[float]:
        """The mean wait before each retry (one fewer than the attempts)."""
        for retry in range(self.max_attempts - 1):
            if retry < len(FIXED_WAITS):
                yield FIXED_WAITS[retry]
            else:
                ramp = retry - len(FIXED_WAITS)
                yield min(self.start_mean_sleep + ramp * self.sleep_increase, self.max_mean_sleep)

    def waits(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before each retry, the ramp's with uniform jitter of ±``jitter`` around its mean."""
        uniform = (rng or random).uniform
        for retry, mean in enumerate(self.mean_waits()):
            if retry < len(FIXED_WAITS):
                yield mean
            else:
                yield max(0.0, mean * uniform(1 - self.jitter, 1 + self.jitter))
