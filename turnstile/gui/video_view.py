"""The live picture with face boxes, names and scores. Paints only: the frames and the boxes
arrive ready-made from the vision worker."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from turnstile.door.station import FaceView, FrameReport

HINT_COLOURS: dict[str, QColor] = {
    "granted": QColor("#2e9d4f"),
    "denied": QColor("#d32f2f"),
    "unknown": QColor("#d32f2f"),
    "unsure": QColor("#f2a516"),
    "guidance": QColor("#f2a516"),
    "checking": QColor("#4fa3e0"),
    "other": QColor("#9e9e9e"),
}
MAX_REPORT_LAG = 3
"""Boxes from a report more than this many frames older than the picture are not drawn
(they would sit beside the face)."""


class VideoView(QWidget):
    """Draws the latest frame, scaled to fit, and the faces of the latest report on it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("video")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image: QImage | None = None
        self._seq = -1
        self._report: FrameReport | None = None
        self._placeholder = "Starting the camera…"
        self.frames_received = 0
        self.frames_painted = 0
        """Distinct frames actually drawn (the preview frame rate is measured with it)."""
        self._painted_seq = -1

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(800, 600)

    @property
    def has_picture(self) -> bool:
        return self._image is not None

    @property
    def current_seq(self) -> int:
        return self._seq

    def set_frame(self, image: QImage, seq: int) -> None:
        """Show a new frame (older sequence numbers than the current one are ignored)."""
        if seq <= self._seq:
            return
        self._image, self._seq = image, seq
        self.frames_received += 1
        self.update()

    def set_report(self, report: FrameReport) -> None:
        if self._report is not None and report.seq < self._report.seq \
                and report.source_generation == self._report.source_generation:
            return
        self._report = report

    def clear(self, placeholder: str) -> None:
        """No picture: show ``placeholder`` instead."""
        self._image, self._report, self._seq = None, None, -1
        self._placeholder = placeholder
        self.update()

    # -- painting ----------------------------------------------------------------------------
    def _target(self) -> QRectF:
        assert self._image is not None
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101418"))
        if self._image is None:
            painter.setPen(QColor("#cfd8dc"))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(font)
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._placeholder)
            painter.end()
            return
        target = self._target()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self._image)
        if self._seq != self._painted_seq:
            self._painted_seq = self._seq
            self.frames_painted += 1
        report = self._report
        if report is not None and 0 <= self._seq - report.seq <= MAX_REPORT_LAG:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            sx = target.width() / report.frame_size[0]
            sy = target.height() / report.frame_size[1]
            for face in report.faces:
                self._draw_face(painter, face, target, sx, sy)
        painter.end()

    def _draw_face(self, painter: QPainter, face: FaceView, target: QRectF, sx: float,
                   sy: float) -> None:
        x, y, w, h = face.box
        rect = QRectF(target.x() + x * sx, target.y() + y * sy, w * sx, h * sy)
        colour = HINT_COLOURS.get(face.hint, HINT_COLOURS["other"])
        painter.setPen(QPen(colour, 3 if face.primary else 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 6, 6)
        text = face.label
        if face.score is not None and face.score > -1.0:  # -1: nobody enrolled to compare
            text = f"{text}  {face.score:.3f}" if text else f"{face.score:.3f}"
        if not text:
            return
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        tw, th = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        top = rect.top() - th - 2 if rect.top() - th - 2 >= target.top() else rect.bottom() + 2
        label = QRectF(rect.left(), top, tw, th)
        painter.fillRect(label, colour)
        painter.setPen(QColor("white"))
        painter.drawText(label.adjusted(6, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)
