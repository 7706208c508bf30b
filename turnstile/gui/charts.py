"""Two small charts drawn with QPainter (QtCharts is not part of PySide6-Essentials):

* :class:`DecisionChart`: granted and denied passages as stacked bars, per hour of the day
  or per day;
* :class:`ScoreHistogramChart`: the score distributions of granted and unknown faces with
  the thresholds drawn over them.

Both take plain lists (no database access), show a message when there is nothing to draw,
and explain a bar under the mouse in a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

GRANTED_COLOR = QColor("#2e9d57")
DENIED_COLOR = QColor("#d0453a")
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


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= ``value`` (axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _format_count(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


@dataclass
class ChartData:
    """Bars of a :class:`DecisionChart`: one label per bar, granted and denied counts."""

    labels: list[str] = field(default_factory=list)
    granted: list[int] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)
    tooltips: list[str] = field(default_factory=list)

    @classmethod
    def per_hour_of_day(cls, granted: Sequence[int], denied: Sequence[int]) -> ChartData:
        labels = [f"{h:02d}" for h in range(24)]
        tips = [f"{h:02d}:00-{h:02d}:59" for h in range(24)]
        return cls(labels, list(granted), list(denied), tips)

    @classmethod
    def per_day(cls, starts: Sequence[datetime], granted: Sequence[int],
                denied: Sequence[int]) -> ChartData:
        labels = [d.strftime("%d %b") for d in starts]
        tips = [d.strftime("%a %d %b %Y") for d in starts]
        return cls(labels, list(granted), list(denied), tips)

    @property
    def empty(self) -> bool:
        return not any(self.granted) and not any(self.denied)


def _plot_area(widget: QWidget, legend_px: int = 0) -> QRectF:
    return QRectF(MARGIN_LEFT_PX, MARGIN_TOP_PX + legend_px,
                  max(10, widget.width() - MARGIN_LEFT_PX - MARGIN_RIGHT_PX),
                  max(10, widget.height() - MARGIN_TOP_PX - MARGIN_BOTTOM_PX - legend_px))


def _draw_y_axis(painter: QPainter, area: QRectF, top: float, ticks: int = 4) -> None:
    metrics = painter.fontMetrics()
    for i in range(ticks + 1):
        value = top * i / ticks
        y = area.bottom() - area.height() * i / ticks
        painter.setPen(QPen(GRID_COLOR, 1))
        painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        painter.setPen(TEXT_COLOR)
        text = _format_count(value)
        painter.drawText(QRectF(0, y - metrics.height() / 2, area.left() - 6, metrics.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)


def _draw_legend(painter: QPainter, x: float, y: float,
                 items: Sequence[tuple[QColor, str]]) -> None:
    metrics = painter.fontMetrics()
    for color, text in items:
        painter.fillRect(QRectF(x, y + 3, 12, 12), color)
        painter.setPen(TEXT_COLOR)
        painter.drawText(QPointF(x + 17, y + 3 + metrics.ascent() - 1), text)
        x += 17 + metrics.horizontalAdvance(text) + 18


def _draw_message(painter: QPainter, rect: QRectF, text: str) -> None:
    painter.setPen(AXIS_COLOR)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)


class DecisionChart(QWidget):
    """Stacked bars: granted (green) under denied (red)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = ChartData()
        self.message = "No events in this period."
        self.title = ""
        self.setMouseTracking(True)
        self.setMinimumHeight(150)
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

    def _bar_rects(self, area: QRectF) -> list[tuple[QRectF, QRectF]]:
        n = len(self.data.labels)
        if n == 0:
            return []
        top = nice_ceiling(max(g + d for g, d in zip(self.data.granted, self.data.denied)))
        slot = area.width() / n
        gap = min(6.0, slot * 0.2)
        rects = []
        for i, (g, d) in enumerate(zip(self.data.granted, self.data.denied)):
            x = area.left() + i * slot + gap / 2
            w = max(1.0, slot - gap)
            hg = area.height() * g / top
            hd = area.height() * d / top
            rects.append((QRectF(x, area.bottom() - hg, w, hg),
                          QRectF(x, area.bottom() - hg - hd, w, hd)))
        return rects

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(self.rect(), QColor("white"))
        metrics = painter.fontMetrics()
        _draw_legend(painter, MARGIN_LEFT_PX, 6, [
            (GRANTED_COLOR, f"Granted ({sum(self.data.granted):,})"),
            (DENIED_COLOR, f"Denied, unknown or spoof ({sum(self.data.denied):,})"),
        ])
        if self.title:
            painter.setPen(TEXT_COLOR)
            painter.drawText(QRectF(0, 6, self.width() - MARGIN_RIGHT_PX, metrics.height()),
                             Qt.AlignmentFlag.AlignRight, self.title)
        area = _plot_area(self)
        if self.data.empty:
            _draw_message(painter, area, self.message)
            return
        top = nice_ceiling(max(g + d for g, d in zip(self.data.granted, self.data.denied)))
        _draw_y_axis(painter, area, top)
        for granted_rect, denied_rect in self._bar_rects(area):
            painter.fillRect(granted_rect, GRANTED_COLOR)
            painter.fillRect(denied_rect, DENIED_COLOR)
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

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        index = self.bar_at(event.position().x())
        if index is None or self.data.empty:
            QToolTip.hideText()
            return
        g, d = self.data.granted[index], self.data.denied[index]
        tip = self.data.tooltips[index] if index < len(self.data.tooltips) else ""
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{tip}\nGranted: {g:,}\nDenied: {d:,}", self)


class ScoreHistogramChart(QWidget):
    """Two overlaid histograms (genuine and impostor estimates) with threshold lines."""

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

    def _x(self, area: QRectF, score: float) -> float:
        low, high = self.edges[0], self.edges[-1]
        clamped = min(max(score, low), high)
        return area.left() + area.width() * (clamped - low) / (high - low)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        metrics = painter.fontMetrics()
        _draw_legend(painter, MARGIN_LEFT_PX, 6, [
            (GENUINE_COLOR, f"Granted ({sum(self.genuine):,})"),
            (IMPOSTOR_COLOR, f"Unknown faces ({sum(self.impostor):,})"),
            (ACCEPT_COLOR, "Accept"),
            (REJECT_COLOR, "Reject"),
        ])
        area = _plot_area(self)
        if not self.edges or (not any(self.genuine) and not any(self.impostor)):
            _draw_message(painter, area, self.message)
            return
        # Each series is scaled to its own peak: granted faces outnumber unknown ones many
        # times over, and the point is where the two shapes overlap, not their sizes.
        bins = len(self.edges) - 1
        slot = area.width() / bins
        for series, color in ((self.impostor, IMPOSTOR_COLOR), (self.genuine, GENUINE_COLOR)):
            peak = max(series) or 1
            for i, n in enumerate(series):
                h = area.height() * n / peak
                painter.fillRect(QRectF(area.left() + i * slot, area.bottom() - h,
                                        max(1.0, slot - 1), h), color)
        painter.setPen(QPen(AXIS_COLOR, 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        painter.save()
        painter.translate(14, area.center().y())
        painter.rotate(-90)
        painter.setPen(TEXT_COLOR)
        painter.drawText(QRectF(-area.height() / 2, -8, area.height(), metrics.height()),
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
