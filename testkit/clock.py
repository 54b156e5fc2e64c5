"""A simulated clock for the loggers' `clock=` argument: hours of lines written in seconds."""

from __future__ import annotations

import time


class SimClock:
    """Timestamps (ISO-8601 UTC, milliseconds, `Z`) at `now_ms`, which the caller sets or advances.

    `step_ms` > 0 advances the clock by that much after each reading, so consecutive lines
    get increasing stamps without the caller touching it.
    """

    def __init__(self, start_ms: int, step_ms: int = 0) -> None:
        self.now_ms = start_ms
        self.step_ms = step_ms

    def iso(self) -> str:
        seconds, ms = divmod(self.now_ms, 1000)
        self.now_ms += self.step_ms
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"

    __call__ = iso
