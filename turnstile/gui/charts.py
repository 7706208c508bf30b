"""Two small charts drawn with QPainter (QtCharts is not part of PySide6-Essentials):

* :class:`DecisionChart`: granted and denied passages (and camera or door errors, which
  are not refusals) as stacked bars, per hour of the day or per day, on a scale of whole
  counts;
* :class:`ScoreHistogramChart`: the score distributions of granted and unknown faces, each
  as a share of its own total, with the thresholds drawn over them.

Both take plain lists (no database access), show a message when there is nothing to draw,
and explain a bar under the mouse in a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

GRANTED_COLOR = QColor("#2e9d57")
DENIED_COLOR = QColor("#d0453a")
ERROR_COLOR = QColor("#9ca3af")
GENUINE_COLOR = QColor(46, 157, 87, 150)
IMPOSTOR_COLOR = QColor(208, 69, 58, 150)
AXIS_COLOR = QColor("#6b7280")
GRID_COLOR = QColor("#e5e7eb")
TEXT_COLOR = QColor("#374151")
ACCEPT_COLOR = QColor("#1d4ed8")
REJECT_COLOR = QColor("#b45309")

MARGIN_LEFT_PX = 52
MARGIN_BOTTOM_PX = 34
MARGIN_TOP_PX = 30
MARGIN_RIGHT_PX = 14
LEGEND_SWATCH_PX = 12
LEGEND_GAP_PX = 18
AXIS_TITLE_X_PX = 4
"""Left edge of a vertical axis title (drawn turned on its side)."""
MIN_CHART_HEIGHT_PX = 120
MAX_Y_TICKS = 5
"""At most this many steps up the vertical axis (fewer when the chart is short)."""
TICK_SPACING_LINES = 1.6
"""Vertical room a tick label needs, in lines of text (so labels never touch)."""


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= ``value`` (axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _whole_steps(smallest: float) -> Iterator[int]:
    """Whole tick steps of 1, 2, 2.5 and 5 times a power of ten, from the first one at or
    above ``smallest`` up (2.5 only where it is whole: 25, 250...)."""
    power = 10 ** max(0, math.floor(math.log10(max(smallest, 1))))
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * power
            if step >= smallest and step == int(step):
                yield int(step)
        power *= 10


def count_axis(peak: float, max_ticks: int = MAX_Y_TICKS) -> tuple[int, int]:
    """``(top, step)`` of a vertical axis for counts up to ``peak``, at most ``max_ticks``
    steps up: the step is a whole number (counts never get ticks such as 12.5) and
    ``top`` the first multiple of it at or above ``peak``; of the few steps that qualify,
    the one leaving the least empty room above the tallest bar."""
    peak = max(1, math.ceil(peak))
    candidates = islice(_whole_steps(peak / max(1, max_ticks)), 4)
    return min(((step * math.ceil(peak / step), step) for step in candidates),
               key=lambda axis: axis[0])


def _format_percent(value: float) -> str:
    return f"{value:g} %"


def _format_count(value: float) -> str:
    # Whole counts: "1,500" rather than "1.5k", which reads as a fraction.
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 100_000:
        return f"{value / 1000:g}k"
    return f"{round(value):,}"


@dataclass
class ChartData:
    """Bars of a :class:`DecisionChart`: one label per bar; granted, denied and error
    counts (``errors`` may be left empty: none)."""

    labels: list[str] = field(default_factory=list)
    granted: list[int] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)
    tooltips: list[str] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.errors) < len(self.granted):
            self.errors = list(self.errors) + [0] * (len(self.granted) - len(self.errors))

    @classmethod
    def per_hour_of_day(cls, granted: Sequence[int], denied: Sequence[int],
                        errors: Sequence[int] = ()) -> ChartData:
        labels = [f"{h:02d}" for h in range(24)]
        tips = [f"{h:02d}:00-{h:02d}:59" for h in range(24)]
        return cls(labels, list(granted), list(denied), tips, list(errors))

    @classmethod
    def per_day(cls, starts: Sequence[datetime], granted: Sequence[int],
                denied: Sequence[int], errors: Sequence[int] = ()) -> ChartData:
        labels = [d.strftime("%d %b") for d in starts]
        tips = [d.strftime("%a %d %b %Y") for d in starts]
        return cls(labels, list(granted), list(denied), tips, list(errors))

    @property
    def empty(self) -> bool:
        return not any(self.granted) and not any(self.denied) and not any(self.errors)

    @property
    def peak(self) -> int:
        """The tallest bar (granted + denied + errors)."""
        return max((g + d + e for g, d, e in zip(self.granted, self.denied, self.errors)),
                   default=0)


def _plot_area(widget: QWidget, legend_px: int = 0, left_px: int = MARGIN_LEFT_PX) -> QRectF:
    return QRectF(left_px, MARGIN_TOP_PX + legend_px,
                  max(10, widget.width() - left_px - MARGIN_RIGHT_PX),
                  max(10, widget.height() - MARGIN_TOP_PX - MARGIN_BOTTOM_PX - legend_px))


def _max_ticks(area: QRectF, metrics: QFontMetrics) -> int:
    return max(1, min(MAX_Y_TICKS, int(area.height() // (metrics.height()
                                                          * TICK_SPACING_LINES))))


def _draw_y_axis(painter: QPainter, area: QRectF, top: float, step: float,
                 label: Callable[[float], str] = _format_count) -> None:
    """Grid lines and tick labels every ``step`` from 0 to ``top``."""
    metrics = painter.fontMetrics()
    ticks = max(1, round(top / step))
    for i in range(ticks + 1):
        value = step * i
        y = area.bottom() - area.height() * value / top
        painter.setPen(QPen(GRID_COLOR, 1))
        painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        painter.setPen(TEXT_COLOR)
        painter.drawText(QRectF(0, y - metrics.height() / 2, area.left() - 6, metrics.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         label(value))


def _legend_rows(metrics: QFontMetrics, x: float, right: float,
                 items: Sequence[tuple[QColor, str]]) -> list[list[tuple[float, QColor, str]]]:
    """Where each legend item goes: ``[(x, colour, text), ...]`` per line, a new line when
    the next item would pass ``right``."""
    rows: list[list[tuple[float, QColor, str]]] = [[]]
    cursor = x
    for color, text in items:
        width = LEGEND_SWATCH_PX + 5 + metrics.horizontalAdvance(text)
        if rows[-1] and cursor + width > right:
            rows.append([])
            cursor = x
        rows[-1].append((cursor, color, text))
        cursor += width + LEGEND_GAP_PX
    return rows


def _draw_legend(painter: QPainter, x: float, y: float, items: Sequence[tuple[QColor, str]],
                 right: float, title: str = "") -> int:
    """Draw the legend from ``(x, y)`` (wrapped before ``right``) and ``title`` right-aligned
    on its first line, or on a line of its own when it would touch the legend.

    Returns:
        The height in pixels of the lines below the first one (to move the plot down).
    """
    metrics = painter.fontMetrics()
    line_px = metrics.height() + 4
    rows = _legend_rows(metrics, x, right, items)
    title_px = metrics.horizontalAdvance(title) if title else 0
    last_row_end = first_row_end = x
    for row_index, row in enumerate(rows):
        row_y = y + row_index * line_px
        for item_x, color, text in row:
            painter.fillRect(QRectF(item_x, row_y + 3, LEGEND_SWATCH_PX, LEGEND_SWATCH_PX),
                             color)
            painter.setPen(TEXT_COLOR)
            painter.drawText(QPointF(item_x + LEGEND_SWATCH_PX + 5,
                                     row_y + 3 + metrics.ascent() - 1), text)
            last_row_end = item_x + LEGEND_SWATCH_PX + 5 + metrics.horizontalAdvance(text)
        if row_index == 0:
            first_row_end = last_row_end
    lines = len(rows)
    if title:
        fits_first = first_row_end + LEGEND_GAP_PX <= right - title_px
        title_line = 0 if fits_first else lines
        lines = max(lines, title_line + 1)
        painter.setPen(TEXT_COLOR)
        painter.drawText(QRectF(x, y + title_line * line_px, right - x, metrics.height()),
                         Qt.AlignmentFlag.AlignRight, title)
    return (lines - 1) * line_px


def _draw_message(painter: QPainter, rect: QRectF, text: str) -> None:
    painter.setPen(AXIS_COLOR)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)


class DecisionChart(QWidget):
    """Stacked bars: granted (green) under denied, unknown or spoof (red) under camera or
    door errors (grey), on an axis of whole counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = ChartData()
        self.message = "No events in this period."
        self.title = ""
        self.setMouseTracking(True)
        self.setMinimumHeight(MIN_CHART_HEIGHT_PX)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(600, 200)

    def set_data(self, data: ChartData, title: str = "") -> None:
        self.data = data
        self.title = title
        self.message = "No events in this period."
        self.update()

    def set_message(self, text: str) -> None:
        """Show a text instead of bars (e.g. "Counting...")."""
        self.data = ChartData()
        self.message = text
        self.update()

    def legend_items(self) -> list[tuple[QColor, str]]:
        """The legend: what each colour counts, with its total."""
        return [
            (GRANTED_COLOR, f"Granted ({sum(self.data.granted):,})"),
            (DENIED_COLOR, f"Denied, unknown face or spoof ({sum(self.data.denied):,})"),
            (ERROR_COLOR, f"Camera or door errors ({sum(self.data.errors):,})"),
        ]

    def _bar_rects(self, area: QRectF, top: float) -> list[tuple[QRectF, QRectF, QRectF]]:
        n = len(self.data.labels)
        if n == 0:
            return []
        slot = area.width() / n
        gap = min(6.0, slot * 0.2)
        rects = []
        for i, (g, d, e) in enumerate(zip(self.data.granted, self.data.denied,
                                          self.data.errors)):
            x = area.left() + i * slot + gap / 2
            w = max(1.0, slot - gap)
            hg = area.height() * g / top
            hd = area.height() * d / top
            he = area.height() * e / top
            rects.append((QRectF(x, area.bottom() - hg, w, hg),
                          QRectF(x, area.bottom() - hg - hd, w, hd),
                          QRectF(x, area.bottom() - hg - hd - he, w, he)))
        return rects

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(self.rect(), QColor("white"))
        metrics = painter.fontMetrics()
        legend_px = _draw_legend(painter, MARGIN_LEFT_PX, 6, self.legend_items(),
                                 self.width() - MARGIN_RIGHT_PX, self.title)
        area = _plot_area(self, legend_px)
        if self.data.empty:
            _draw_message(painter, area, self.message)
            return
        top, step = count_axis(self.data.peak, _max_ticks(area, metrics))
        _draw_y_axis(painter, area, top, step)
        for rects in self._bar_rects(area, top):
            for rect, color in zip(rects, (GRANTED_COLOR, DENIED_COLOR, ERROR_COLOR)):
                painter.fillRect(rect, color)
        painter.setPen(QPen(AXIS_COLOR, 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        self._draw_x_labels(painter, area, metrics)

    def _draw_x_labels(self, painter: QPainter, area: QRectF, metrics: QFontMetrics) -> None:
        n = len(self.data.labels)
        slot = area.width() / n
        widest = max(metrics.horizontalAdvance(t) for t in self.data.labels) + 8
        every = max(1, math.ceil(widest / slot))
        painter.setPen(TEXT_COLOR)
        for i in range(0, n, every):
            cx = area.left() + (i + 0.5) * slot
            painter.drawText(QRectF(cx - widest / 2, area.bottom() + 4, widest,
                                    metrics.height()),
                             Qt.AlignmentFlag.AlignCenter, self.data.labels[i])

    def bar_at(self, x: float) -> int | None:
        """The bar under horizontal position ``x``, or None."""
        n = len(self.data.labels)
        area = _plot_area(self)
        if n == 0 or not area.left() <= x <= area.right():
            return None
        return min(n - 1, int((x - area.left()) / (area.width() / n)))

    def bar_tooltip(self, index: int) -> str:
        """What the tooltip of bar ``index`` says."""
        g, d = self.data.granted[index], self.data.denied[index]
        e = self.data.errors[index]
        tip = self.data.tooltips[index] if index < len(self.data.tooltips) else ""
        return (f"{tip}\nGranted: {g:,}\nDenied, unknown face or spoof: {d:,}"
                f"\nCamera or door errors: {e:,}")

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        index = self.bar_at(event.position().x())
        if index is None or self.data.empty:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), self.bar_tooltip(index), self)


class ScoreHistogramChart(QWidget):
    """Two overlaid histograms (genuine and impostor estimates) with threshold lines.

    Each series is drawn as the share of its own total in each bin (the vertical axis, in
    per cent): granted faces outnumber unknown ones many times over, and the point is
    where the two shapes overlap, not their sizes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edges: list[float] = []
        self.genuine: list[int] = []
        self.impostor: list[int] = []
        self.accept: float | None = None
        self.reject: float | None = None
        self.message = "No scores recorded yet."
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(460, 200)

    def set_histogram(self, edges: Sequence[float], genuine: Sequence[int],
                      impostor: Sequence[int]) -> None:
        self.edges, self.genuine, self.impostor = list(edges), list(genuine), list(impostor)
        self.message = "No scores recorded yet."
        self.update()

    def set_message(self, text: str) -> None:
        self.edges, self.genuine, self.impostor = [], [], []
        self.message = text
        self.update()

    def set_thresholds(self, accept: float | None, reject: float | None) -> None:
        self.accept, self.reject = accept, reject
        self.update()

    def shares(self) -> tuple[list[float], list[float]]:
        """The per cent of each series' scores in each bin: ``(genuine, impostor)``."""
        def share(series: list[int]) -> list[float]:
            total = sum(series)
            return [100.0 * n / total if total else 0.0 for n in series]

        return share(self.genuine), share(self.impostor)

    def _x(self, area: QRectF, score: float) -> float:
        low, high = self.edges[0], self.edges[-1]
        clamped = min(max(score, low), high)
        return area.left() + area.width() * (clamped - low) / (high - low)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        metrics = painter.fontMetrics()
        legend_px = _draw_legend(painter, MARGIN_LEFT_PX, 6, [
            (GENUINE_COLOR, f"Granted ({sum(self.genuine):,})"),
            (IMPOSTOR_COLOR, f"Unknown faces ({sum(self.impostor):,})"),
            (ACCEPT_COLOR, "Accept"),
            (REJECT_COLOR, "Reject"),
        ], self.width() - MARGIN_RIGHT_PX)
        # Room on the left for the axis title (turned on its side) and the widest tick.
        left_px = (AXIS_TITLE_X_PX + metrics.height()
                   + metrics.horizontalAdvance(_format_percent(100)) + 10)
        area = _plot_area(self, legend_px, left_px)
        if not self.edges or (not any(self.genuine) and not any(self.impostor)):
            _draw_message(painter, area, self.message)
            return
        genuine, impostor = self.shares()
        top, step = count_axis(max(genuine + impostor), _max_ticks(area, metrics))
        top, step = min(top, 100), min(step, 100)
        _draw_y_axis(painter, area, top, step, _format_percent)
        bins = len(self.edges) - 1
        slot = area.width() / bins
        for series, color in ((impostor, IMPOSTOR_COLOR), (genuine, GENUINE_COLOR)):
            for i, value in enumerate(series):
                h = area.height() * value / top
                painter.fillRect(QRectF(area.left() + i * slot, area.bottom() - h,
                                        max(1.0, slot - 1), h), color)
        painter.setPen(QPen(AXIS_COLOR, 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        painter.save()
        painter.translate(AXIS_TITLE_X_PX, area.center().y())
        painter.rotate(-90)
        painter.setPen(TEXT_COLOR)
        painter.drawText(QRectF(-area.height() / 2, 0, area.height(), metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, "share of each")
        painter.restore()
        painter.setPen(TEXT_COLOR)
        low, high = self.edges[0], self.edges[-1]
        ticks = 4
        for i in range(ticks + 1):
            value = low + (high - low) * i / ticks
            x = self._x(area, value)
            painter.drawText(QRectF(x - 30, area.bottom() + 4, 60, metrics.height()),
                             Qt.AlignmentFlag.AlignCenter, f"{value:.2f}")
        for value, color in ((self.reject, REJECT_COLOR), (self.accept, ACCEPT_COLOR)):
            if value is None:
                continue
            x = self._x(area, value)
            painter.setPen(QPen(color, 2, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
