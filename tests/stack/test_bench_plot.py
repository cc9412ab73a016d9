"""``33god bench NAME --plot FILE.png``: the figures drawn as bar charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stack.bench.plot import PlotUnavailable, plot_figures
from stack.cli import app

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

BUS_FIGURES = {
    "bench": "bus",
    "unit": "events/s",
    "ours": 8084,
    "baseline": {"name": "raw aio-pika publish (confirms, topic exchange, quorum queue)", "value": 8633},
    "ratio": 0.94,
    "consume": 6978,
    "baseline_consume": 8966,
    "consume_ratio": 0.78,
    "p50_ms": 1.06,
    "p95_ms": 1.31,
    "p99_ms": 1.74,
    "events": 20000,
}


def test_figures_are_drawn_into_a_png(tmp_path: Path) -> None:
    """A benchmark's figures become a PNG file at the path given."""
    written = plot_figures(BUS_FIGURES, tmp_path / "bus.png")
    assert written == tmp_path / "bus.png"
    assert written.read_bytes()[:8] == PNG_SIGNATURE


def test_figures_without_ratios_or_latencies_are_drawn_too(tmp_path: Path) -> None:
    """Only ours and a baseline are enough for a plot; a path without a suffix gets a PNG."""
    figures = {"bench": "gateway", "unit": "events/s", "ours": 2500, "baseline": {"name": "bare", "value": 30000}}
    written = plot_figures(figures, tmp_path / "gateway")
    assert written.read_bytes()[:8] == PNG_SIGNATURE


def test_nothing_to_draw_is_said_plainly(tmp_path: Path) -> None:
    """Figures with nothing comparable are refused with a reason, and no file is written."""
    with pytest.raises(PlotUnavailable, match="nothing to draw"):
        plot_figures({"bench": "odd", "events": 3}, tmp_path / "odd.png")
    assert not (tmp_path / "odd.png").exists()


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    """A plot that cannot be written names the path instead of raising a traceback."""
    target = tmp_path / "missing-directory" / "bus.png"
    with pytest.raises(PlotUnavailable, match=r"cannot write the plot to .*missing-directory"):
        plot_figures(BUS_FIGURES, target)


def test_bench_command_draws_the_plot_and_keeps_the_json_last(tmp_path: Path) -> None:
    """`33god bench validation --plot` writes the PNG and still ends with the JSON figures."""
    target = tmp_path / "validation.png"
    result = CliRunner().invoke(app, ["bench", "validation", "--seconds", "0.05", "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    last = result.output.strip().splitlines()[-1]
    assert last.startswith('{"bench":"validation"')
