"""What every fuzz test shares: derandomized hypothesis settings and a per-example time limit."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from hypothesis import HealthCheck, settings

EXAMPLE_TIMEOUT_S = 10  # generous: a real example takes milliseconds; only a hang gets near this


def fuzz_settings(max_examples: int) -> settings:
    """The same examples in every run (no flaky CI), no example database, no per-example deadline
    (a loaded 2-core machine must not fail on speed; `time_limit` catches hangs instead)."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def time_limit(seconds: int = EXAMPLE_TIMEOUT_S) -> Iterator[None]:
    """Raise TimeoutError in the main thread if the body runs longer than `seconds` (SIGALRM)."""
    def expire(_signum, _frame):
        raise TimeoutError(f"one example ran longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
