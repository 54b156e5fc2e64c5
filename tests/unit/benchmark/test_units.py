"""Report numbers carry their unit and never an exponent; the report shows its plots."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tasks.benchmark.publish import image_markdown
from tasks.benchmark.units import format_metric, metric_label, metric_unit, plain_number


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("p99_ttft_ms", 11140.3, "11,140 ms"),
    ("median_tpot_ms", 166.64, "166.6 ms"),
    ("request_throughput", 3.5114, "3.51 req/s"),
    ("output_throughput", 55.84, "55.8 tok/s"),
    ("duration", 18.2, "18.2 s"),
    ("success_rate", 0.98, "98.0 %"),
    ("quality", 0.01258, "1.26 % of items"),
    ("completed", 1200, "1,200 requests"),
    ("request_goodput", None, "n/a"),
])
def test_values_are_written_with_their_unit(key: str, value, shown: str) -> None:
    assert format_metric(key, value) == shown


def test_small_and_large_numbers_never_use_an_exponent() -> None:
    for value in (0.000123, 0.01258, 1.5e7, 12345.678, 0.0):
        assert not re.search(r"[eE][+-]?\d", plain_number(value)), value
    assert plain_number(0.000123) == "0.000123"


def test_labels_and_units_follow_the_key() -> None:
    assert metric_label("p99_ttft_ms") == "p99 TTFT" and metric_unit("mean_e2el_ms") == "ms"
    assert metric_label("base_quality_json_valid") == "json valid (base)"


def test_the_artifact_embeds_the_plot_and_the_file_links_it(tmp_path: Path) -> None:
    png = tmp_path / "result.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    inline = image_markdown("Latency plot", str(png), inline=True)
    src = re.match(r"!\[Latency plot\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", inline[0])
    assert src and base64.b64decode(src.group(1)) == png.read_bytes()
    assert image_markdown("Latency plot", str(png), inline=False)[0] == "![Latency plot](result.png)"
    assert "not written" in image_markdown("Latency plot", str(tmp_path / "gone.png"), inline=True)[0]
