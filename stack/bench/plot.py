"""``--plot FILE.png``: a benchmark's figures drawn as bar charts, for people who would rather look than read.

One panel compares ours with the baseline (and with any further baselines or rates the
benchmark reports), one shows the ratios against a line at parity, one the latency
percentiles. Panels without figures are left out. matplotlib is a development
dependency, imported only here and only when a plot is asked for.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PlotUnavailable", "ensure_plotting", "plot_figures"]

_PERCENTILE = re.compile(r"(?:^|_)p\d+_ms$")
_INSTALL = "install it with `uv sync --group dev` (or `pip install matplotlib`)"


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed, or the plot cannot be written where asked."""


def ensure_plotting() -> None:
    """Raise :class:`PlotUnavailable` now, rather than after a benchmark ran, when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotUnavailable(f"--plot needs matplotlib, which is not installed: {_INSTALL}")


def plot_figures(figures: Mapping[str, Any], path: Path) -> Path:
    """Draw ``figures`` (a benchmark's JSON object) into ``path``; the format follows its suffix (PNG without one)."""
    ensure_plotting()
    # Imported here: a development dependency, needed only for --plot. Agg draws without a display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    panels = [panel for panel in (_throughput(figures), _ratios(figures), _latencies(figures)) if panel[1]]
    if not panels:
        raise PlotUnavailable("nothing to draw: the figures have neither ours, a baseline, ratios nor latencies")
    figure = Figure(figsize=(5 * len(panels), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"33god bench {figures.get('bench', '?')}")
    for axes, (title, bars, parity) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        labels = [textwrap.fill(label, 18) for label, _ in bars]
        values = [value for _, value in bars]
        drawn = axes.bar(labels, values, color=[_colour(label) for label, _ in bars])
        axes.bar_label(drawn, fmt=_label, fontsize=8)
        axes.set_title(title)
        axes.tick_params(axis="x", labelsize=8)
        if parity:
            axes.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    try:
        figure.savefig(path, format=None if path.suffix else "png")
    except (OSError, ValueError) as exc:
        raise PlotUnavailable(f"cannot write the plot to {path}: {exc}") from exc
    return path


def _throughput(figures: Mapping[str, Any]) -> tuple[str, list[tuple[str, float]], bool]:
    """Ours, the baseline, paired figures (``consume`` with ``baseline_consume``) and other baselines or rates."""
    bars: list[tuple[str, float]] = []
    if _number(figures.get("ours")):
        bars.append(("ours", float(figures["ours"])))
    baseline = figures.get("baseline")
    if isinstance(baseline, Mapping) and _number(baseline.get("value")):
        bars.append((f"baseline: {baseline.get('name', '')}", float(baseline["value"])))
    for key, value in figures.items():
        if not _number(value) or key in {"ours", "ratio"}:
            continue
        if _number(figures.get(f"baseline_{key}")):
            bars += [(f"ours: {key}", float(value)), (f"baseline: {key}", float(figures[f"baseline_{key}"]))]
        elif _number(figures.get(f"{key}_ratio")) or (key.endswith("_per_s") and figures.get("unit") == "events/s"):
            bars.append((key.replace("_", " "), float(value)))
    return f"throughput ({figures.get('unit', '')})", bars, False


def _ratios(figures: Mapping[str, Any]) -> tuple[str, list[tuple[str, float]], bool]:
    bars = [
        (key.replace("_", " "), float(value))
        for key, value in figures.items()
        if (key == "ratio" or key.endswith("_ratio")) and _number(value)
    ]
    return "ratios (ours / baseline)", bars, True


def _latencies(figures: Mapping[str, Any]) -> tuple[str, list[tuple[str, float]], bool]:
    bars = [
        (key.removesuffix("_ms").replace("_", " "), float(value))
        for key, value in figures.items()
        if _PERCENTILE.search(key) and _number(value)
    ]
    return "latency (ms)", bars, False


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"  # noqa: PLR2004 - counts above, ratios below


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _colour(label: str) -> str:
    return "tab:grey" if label.startswith("baseline") else "tab:blue"
