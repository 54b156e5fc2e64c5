"""A stub OpenAI streaming server in its own process (so its timing does not share our GIL)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT


def stub_process(*args: str) -> Iterator[str]:
    """`python -m testkit.stub_vllm --port 0 ARGS` until the generator closes; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "testkit.stub_vllm", "--port", "0", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"stub server did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    yield from stub_process()
