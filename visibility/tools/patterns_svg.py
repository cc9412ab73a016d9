"""The picture of :class:`~visibility.tools.patterns.Patterns` as a self-contained SVG, written by hand.

Top: the directly-follows graph, event types laid out left to right by their depth along
the causation chains (an edge back to an earlier column is drawn as an arc above), each
edge as thick as the log of its count. Below: the hot spots as bar charts (team pairs,
products, stores) and the conflicts per hour of the day.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from xml.sax.saxutils import escape, quoteattr

from visibility.tools.patterns import Patterns

__all__ = ["render_svg"]

WIDTH = 1120
_FONT = "font-family='Helvetica, Arial, sans-serif'"
_CHAR = 6.6  # average width of a 11 px character
_NODE_H = 44
_ROW_GAP = 22
_ACCENT = "#c2410c"
_INK = "#1f2937"
_MUTED = "#6b7280"


def _text(x: float, y: float, content: str, *, size: int = 11, anchor: str = "start", fill: str = _INK) -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' {_FONT} font-size='{size}' text-anchor='{anchor}' "
        f"fill='{fill}'>{escape(content)}</text>"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _layers(patterns: Patterns) -> dict[str, int]:
    """Each event type's column: its longest path from a start, ignoring edges that close a cycle."""
    children: dict[str, list[str]] = defaultdict(list)
    for parent, child in sorted(patterns.flows):
        if parent != child:
            children[parent].append(child)
    depth: dict[str, int] = {}
    for root in sorted(patterns.activities, key=lambda name: (-patterns.starts.get(name, 0), name)):
        if root in depth:
            continue
        depth[root] = 0
        stack: list[tuple[str, tuple[str, ...]]] = [(root, (root,))]
        while stack:
            node, path = stack.pop()
            for child in children[node]:
                if child in path or depth.get(child, -1) >= depth[node] + 1:
                    continue
                depth[child] = depth[node] + 1
                stack.append((child, (*path, child)))
    return depth


def _graph(patterns: Patterns, top: float) -> tuple[list[str], float, float]:
    """The directly-follows graph from ``top``; returns its elements, its height and its width."""
    parts = [_text(24, top + 16, "Directly-follows graph of event types (parent → child, counted)", size=14)]
    if not patterns.activities:
        parts.append(_text(24, top + 44, "no events in the history read", fill=_MUTED))
        return parts, 64, WIDTH
    depth = _layers(patterns)
    columns: dict[int, list[str]] = defaultdict(list)
    for name in sorted(patterns.activities, key=lambda name: (depth[name], -patterns.activities[name], name)):
        columns[depth[name]].append(name)
    node_w = min(max(len(name) for name in patterns.activities) * _CHAR + 24, 300)
    gap = max((WIDTH - 48 - node_w * len(columns)) / max(len(columns) - 1, 1), 60)
    arcs_room = 40 if any(depth[child] <= depth[parent] for parent, child in patterns.flows) else 0
    position: dict[str, tuple[float, float]] = {}
    for column, names in columns.items():
        for row, name in enumerate(names):
            position[name] = (24 + column * (node_w + gap), top + 36 + arcs_room + row * (_NODE_H + _ROW_GAP))
    height = 36 + arcs_room + max(len(names) for names in columns.values()) * (_NODE_H + _ROW_GAP)
    heaviest = max(patterns.flows.values(), default=1)
    for (parent, child), count in sorted(patterns.flows.items(), key=lambda item: item[1]):
        width = 1 + 5 * math.log1p(count) / math.log1p(heaviest)
        (x1, y1), (x2, y2) = position[parent], position[child]
        if depth[child] > depth[parent]:
            sx, sy, ex, ey = x1 + node_w, y1 + _NODE_H / 2, x2, y2 + _NODE_H / 2
            bend = (ex - sx) / 2
            path = f"M{sx:.1f},{sy:.1f} C{sx + bend:.1f},{sy:.1f} {ex - bend:.1f},{ey:.1f} {ex:.1f},{ey:.1f}"
            lx, ly = (sx + ex) / 2, (sy + ey) / 2 - 4
        else:  # back to an earlier column, or a type following itself: an arc above
            sx, ex = x1 + node_w / 2 + 10, x2 + node_w / 2 - 10
            lift = top + 36 + arcs_room / 4
            path = f"M{sx:.1f},{y1:.1f} C{sx:.1f},{lift:.1f} {ex:.1f},{lift:.1f} {ex:.1f},{y2:.1f}"
            lx, ly = (sx + ex) / 2, lift + 4
        parts.append(
            f"<path d='{path}' fill='none' stroke='{_ACCENT}' stroke-opacity='0.55' "
            f"stroke-width='{width:.2f}' marker-end='url(#arrow)'/>"
        )
        parts.append(_text(lx, ly, f"{count:,}", size=10, anchor="middle", fill=_ACCENT))
    for name, (x, y) in position.items():
        label = name if len(name) * _CHAR <= node_w - 12 else name[: int((node_w - 24) / _CHAR)] + "…"
        parts.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{node_w:.1f}' height='{_NODE_H}' rx='8' "
            f"fill='#fff7ed' stroke='{_ACCENT}'><title>{escape(name)}</title></rect>"
        )
        parts.append(_text(x + node_w / 2, y + 18, label, anchor="middle"))
        starts = patterns.starts.get(name, 0)
        detail = _plural(patterns.activities[name], "event") + (f", {_plural(starts, 'root')}" if starts else "")
        parts.append(_text(x + node_w / 2, y + 34, detail, size=10, anchor="middle", fill=_MUTED))
    width = 48 + len(columns) * node_w + (len(columns) - 1) * gap
    return parts, height, width


def _bars(title: str, counter: Counter[str], x: float, y: float, width: float) -> list[str]:
    parts = [_text(x, y, title, size=13)]
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:8]
    if not ranked:
        return [*parts, _text(x, y + 24, "no conflicts", fill=_MUTED)]
    label_w = min(max(len(name) for name, _ in ranked) * _CHAR + 8, width * 0.5)
    most = ranked[0][1]
    for row, (name, count) in enumerate(ranked):
        top = y + 12 + row * 22
        bar = (width - label_w - 50) * count / most
        shown = name if len(name) * _CHAR <= label_w else name[: int(label_w / _CHAR) - 1] + "…"
        parts.append(_text(x + label_w - 6, top + 13, shown, anchor="end"))
        parts.append(f"<rect x='{x + label_w:.1f}' y='{top:.1f}' width='{bar:.1f}' height='16' fill='{_ACCENT}'/>")
        parts.append(_text(x + label_w + bar + 4, top + 13, f"{count:,}", size=10, fill=_MUTED))
    return parts


def _hours(hours: Counter[int], x: float, y: float, width: float) -> list[str]:
    parts = [_text(x, y, "Conflicts by hour of the day (UTC)", size=13)]
    most = max(hours.values(), default=0) or 1
    slot = width / 24
    for hour in range(24):
        count = hours.get(hour, 0)
        bar = 120 * count / most
        left = x + hour * slot
        parts.append(
            f"<rect x='{left + 2:.1f}' y='{y + 140 - bar:.1f}' width='{slot - 4:.1f}' height='{bar:.1f}' "
            f"fill='{_ACCENT}'><title>{hour:02d}:00 {count:,} conflicts</title></rect>"
        )
        if hour % 3 == 0:
            parts.append(_text(left + slot / 2, y + 156, f"{hour:02d}", size=10, anchor="middle", fill=_MUTED))
    return parts


def render_svg(patterns: Patterns, *, title: str = "Visibility patterns") -> str:
    """The whole picture as an SVG document."""
    summary = (
        f"{patterns.conflicts:,} conflicts ({patterns.occurrences:,} occurrences) in {patterns.events:,} events; "
        f"{len(patterns.recurring):,} recurring"
    )
    parts = [_text(24, 30, title, size=18), _text(24, 50, summary, fill=_MUTED)]
    graph, graph_height, graph_width = _graph(patterns, 64)
    width = max(WIDTH, round(graph_width))
    parts += graph
    top = 64 + graph_height + 24
    half = (WIDTH - 72) / 2
    parts += _bars("Team pairs", patterns.team_pairs, 24, top, half)
    parts += _bars("Products", patterns.products, 48 + half, top, half)
    top += 210
    parts += _bars("Stores", patterns.stores, 24, top, half)
    parts += _hours(patterns.hours, 48 + half, top, half)
    height = top + 200
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height:.0f}' "
        f"viewBox='0 0 {width} {height:.0f}' role='img' aria-label={quoteattr(title)}>"
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerUnits='userSpaceOnUse' "
        "markerWidth='10' markerHeight='10' "
        f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{_ACCENT}'/></marker></defs>"
        f"<rect width='100%' height='100%' fill='white'/>"
    )
    return "\n".join([head, *parts, "</svg>"]) + "\n"
