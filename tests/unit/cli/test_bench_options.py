"""`mlops bench`'s options that set a BenchmarkConfig field come from that field: flag, type,
default, bounds and help; a bad value is one `error:` line naming the flag, exit code 2."""

from __future__ import annotations

import pytest
import typer

from configs.benchmark import BenchmarkConfig, bounds_text
from flows.cli.bench import CONFIG_OPTIONS, flag
from tests.conftest import run_cli


def _bench_command():
    from flows.cli import app

    return typer.main.get_command(app).commands["bench"].commands["run"]


def test_config_options_are_derived_from_the_config_fields() -> None:
    params = {p.name: p for p in _bench_command().params}
    for field in CONFIG_OPTIONS:
        info, param = BenchmarkConfig.model_fields[field], params[field]
        assert flag(field) in param.opts
        assert param.default == info.default or (param.default is None and info.default is None)
        assert param.help.startswith(info.description) and bounds_text(field) in param.help


def test_help_lists_every_option_with_its_help() -> None:
    proc = run_cli("bench", "run", "--help", env={"COLUMNS": "250", "TERM": "dumb"})
    assert proc.returncode == 0, proc.stderr
    for param in _bench_command().params:
        if param.name == "help":
            continue
        assert param.help, f"{param.name} has no help"
        assert param.opts[0] in proc.stdout and param.help.split(";")[0][:40] in proc.stdout, param.name


@pytest.mark.parametrize(("args", "fragments"), [
    (["--num-prompts", "0"], ["--num-prompts", "greater than 0"]),
    (["--request-rate", "-1"], ["--request-rate", "greater than 0"]),
    (["--min-success-rate", "2"], ["--min-success-rate", "less than or equal to 1"]),
    (["--warmup", "-1"], ["--warmup", "greater than or equal to 0"]),
    (["--goodput", "speed:3"], ["--goodput", "speed:3"]),
])
def test_bad_values_are_one_line_naming_the_flag(args: list[str], fragments: list[str], tmp_path) -> None:
    proc = run_cli("bench", "--base-url", "http://127.0.0.1:1", "--model", "m", "--log-dir", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


def test_a_value_of_the_wrong_type_names_the_flag() -> None:
    proc = run_cli("bench", "--base-url", "http://127.0.0.1:1", "--model", "m", "--endpoint", "grpc")
    assert proc.returncode == 2 and "--endpoint" in proc.stderr and "Traceback" not in proc.stderr
