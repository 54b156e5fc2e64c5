"""Bad URLs and paths on the command line: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from configs.urls import check_base_url
from tests.conftest import run_cli


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:notaport", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:70000", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:8000", "must start with http:// or https://"),
    ("http://", "names no host"),
    ("http://[::1", "not a valid URL"),
    ("http://h:0", "port 0"),
    ("http://h:1/v1?x=1", "no ?query"),
    (" http://h:1", "spaces or control characters"),
    ("", "is empty"),
])
def test_unusable_base_urls_are_refused_with_the_fix(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="--base-url") as err:
        check_base_url(url, "--base-url")
    assert fragment in str(err.value) and "e.g. http://127.0.0.1:8000" in str(err.value)


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="credentials") as err:
        check_base_url("http://user:hunter2@h:1", "--base-url")
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://gw.example.com/", "http://[::1]:8080/base"])
def test_usable_base_urls_pass(url: str) -> None:
    assert check_base_url(url, "--base-url") == url.rstrip("/")


def _one_line_usage_error(proc, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


def test_bench_with_a_port_that_is_not_a_number(tmp_path) -> None:
    proc = run_cli("bench", "--base-url", "http://127.0.0.1:notaport", "--model", "m", "--log-dir", str(tmp_path))
    _one_line_usage_error(proc, "--base-url", "notaport", "port must be a number")


def test_bench_with_a_result_file_under_a_file(tmp_path, free_port) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = run_cli("bench", "--base-url", f"http://127.0.0.1:{free_port}", "--model", "m",
                   "--result-file", str(blocker / "result.json"), "--log-dir", str(tmp_path))
    _one_line_usage_error(proc, "--result-file", "is a file, not a folder")


def test_gateway_with_a_bad_backend_url(tmp_path) -> None:
    proc = run_cli("gateway", "--backend-url", "localhost:8000", "--port", "0", "--log-dir", str(tmp_path))
    _one_line_usage_error(proc, "--backend-url", "http://")


@pytest.mark.parametrize("end", ["inf", "1e300"])
def test_logs_query_with_an_end_time_out_of_range(tmp_path, end: str) -> None:
    proc = run_cli("logs", "query", '{job="api"}', "--log-dir", str(tmp_path), "--end", end)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "epoch seconds" in proc.stderr
