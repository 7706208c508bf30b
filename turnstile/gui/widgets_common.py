"""Small widgets and helpers shared by the desk pages: images, a photo view with face boxes
that accepts dropped files, an inline message line, date helpers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QDate, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QImage,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""Photo files the desk accepts (what :func:`turnstile.vision.imageio.read_image` reads)."""
IMAGE_FILTER = "Photos (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff);;All files (*)"

GOOD = QColor("#1b7f3b")
BAD = QColor("#b3261e")
WARN = QColor("#9a5b00")
NEUTRAL = QColor("#444444")


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """A deep copy of a BGR uint8 frame as an RGB QImage (safe after the array is gone)."""
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()


def jpeg_to_image(data: bytes | None) -> QImage:
    """Decode a JPEG/PNG into a QImage (a null image when ``data`` is empty or bad)."""
    image = QImage()
    if data:
        image.loadFromData(data)
    return image


def jpeg_to_pixmap(data: bytes | None, size: int | None = None) -> QPixmap:
    """Decode a JPEG into a pixmap, scaled to fit ``size`` x ``size`` when given."""
    pixmap = QPixmap.fromImage(jpeg_to_image(data))
    if size is not None and not pixmap.isNull():
        pixmap = pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


def to_local(moment: datetime | None) -> datetime | None:
    """An aware datetime in this computer's time zone (``None`` stays ``None``)."""
    return None if moment is None else moment.astimezone()


def format_local(moment: datetime | None, with_seconds: bool = True) -> str:
    """``2025-03-04 08:12:03`` in local time, or an empty text."""
    local = to_local(moment)
    if local is None:
        return ""
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def format_date(moment: datetime | None) -> str:
    local = to_local(moment)
    return "" if local is None else local.strftime("%Y-%m-%d")


def qdate_to_start(day: QDate) -> datetime:
    """The start of a local calendar day, aware UTC."""
    local = datetime(day.year(), day.month(), day.day()).astimezone()
    return local.astimezone(UTC)


def qdate_to_end(day: QDate) -> datetime:
    """The last second of a local calendar day, aware UTC ("valid until" is inclusive)."""
    local = datetime(day.year(), day.month(), day.day(), 23, 59, 59).astimezone()
    return local.astimezone(UTC)


def datetime_to_qdate(moment: datetime) -> QDate:
    local = moment.astimezone()
    return QDate(local.year, local.month, local.day)


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def keep_height_for_text(dialog: QWidget) -> None:
    """Grow ``dialog`` to the height its wrapped text needs at its width.

    Qt takes a window's minimum size from its layout's minimum, which does not count the
    lines a word-wrapped label needs at the window's width: a message that appears would
    squeeze the fields to half their height and cut the text. Call on every layout request
    and resize (see ``CalibrateDialog.event`` in the Settings page).
    """
    if not dialog.hasHeightForWidth():
        return
    needed = dialog.heightForWidth(dialog.width())
    if needed <= 0:
        return
    if dialog.minimumHeight() != needed:
        dialog.setMinimumHeight(needed)
    if dialog.height() < needed:
        dialog.resize(dialog.width(), needed)


class MessageLabel(QLabel):
    """A line of plain-language feedback under a form: information, success or a problem."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kind = ""
        self.hide()

    def _show(self, text: str, color: QColor, kind: str) -> None:
        self.kind = kind
        self.setText(text)
        self.setStyleSheet(f"color: {color.name()}; font-weight: 500;")
        self.setVisible(bool(text))

    def info(self, text: str) -> None:
        self._show(text, NEUTRAL, "info")

    def success(self, text: str) -> None:
        self._show(text, GOOD, "success")

    def warning(self, text: str) -> None:
        self._show(text, WARN, "warning")

    def error(self, text: str) -> None:
        self._show(text, BAD, "error")

    def clear_message(self) -> None:
        self.kind = ""
        self.clear()
        self.hide()


@dataclass(frozen=True)
class FaceMark:
    """A face box to draw over a photo: ``box`` in image pixels ``(x, y, w, h)``."""

    box: tuple[float, float, float, float]
    label: str = ""
    ok: bool = True
    selected: bool = True


class PhotoView(QWidget):
    """Shows a photo (or a camera frame) scaled to fit, with numbered face boxes and a hint
    line; a photo file dropped on it is reported by :attr:`file_dropped`.

    Clicking a face box reports its index by :attr:`face_clicked`.
    """

    file_dropped = Signal(str)
    face_clicked = Signal(int)

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setMinimumSize(QSize(320, 240))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.placeholder = placeholder
        self._image = QImage()
        self._marks: list[FaceMark] = []
        self._hint = ""
        self._hint_ok = True
        self._drag_active = False

    # -- content ---------------------------------------------------------------------------
    def set_image(self, image: QImage, marks: Sequence[FaceMark] = (), hint: str = "",
                  hint_ok: bool = True) -> None:
        self._image = image
        self._marks = list(marks)
        self._hint = hint
        self._hint_ok = hint_ok
        self.update()

    def set_marks(self, marks: Sequence[FaceMark], hint: str = "", hint_ok: bool = True
                  ) -> None:
        self._marks = list(marks)
        self._hint = hint
        self._hint_ok = hint_ok
        self.update()

    def clear_image(self) -> None:
        self.set_image(QImage())

    def has_image(self) -> bool:
        return not self._image.isNull()

    @property
    def hint(self) -> str:
        return self._hint

    @property
    def marks(self) -> list[FaceMark]:
        return list(self._marks)

    # -- geometry --------------------------------------------------------------------------
    def _target(self) -> QRectF:
        if self._image.isNull():
            return QRectF()
        area = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        scale = min(area.width() / self._image.width(), area.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)

    def _mark_rect(self, mark: FaceMark, target: QRectF) -> QRectF:
        sx = target.width() / self._image.width()
        sy = target.height() / self._image.height()
        x, y, w, h = mark.box
        return QRectF(target.x() + x * sx, target.y() + y * sy, w * sx, h * sy)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#20242a"))
        if self._drag_active:
            painter.setPen(QPen(QColor("#6cb4ff"), 3, Qt.PenStyle.DashLine))
            painter.drawRect(self.rect().adjusted(2, 2, -3, -3))
        if self._image.isNull():
            painter.setPen(QColor("#c8ccd2"))
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.15)
            painter.setFont(font)
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
            return
        target = self._target()
        painter.drawImage(target, self._image)
        for mark in self._marks:
            rect = self._mark_rect(mark, target)
            color = GOOD if mark.ok else BAD
            if not mark.selected:
                color = QColor("#d0d0d0")
            painter.setPen(QPen(color.lighter(140) if mark.selected else color,
                                3 if mark.selected else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            if mark.label:
                font = QFont(painter.font())
                font.setBold(True)
                painter.setFont(font)
                metrics = painter.fontMetrics()
                text_w = metrics.horizontalAdvance(mark.label) + 10
                text_h = metrics.height() + 4
                tag = QRectF(rect.left(), max(target.top(), rect.top() - text_h), text_w, text_h)
                painter.fillRect(tag, color if mark.selected else QColor("#606060"))
                painter.setPen(QColor("white"))
                painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, mark.label)
        if self._hint:
            self._paint_hint(painter, target)

    def _paint_hint(self, painter: QPainter, target: QRectF) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(max(11.0, font.pointSizeF() * 1.3))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = min(target.width() - 16, metrics.horizontalAdvance(self._hint) + 32)
        lines = max(1, int(metrics.horizontalAdvance(self._hint) // max(width - 24, 1)) + 1)
        height = metrics.height() * lines + 16
        box = QRectF(target.center().x() - width / 2, target.bottom() - height - 10,
                     width, height)
        background = QColor(GOOD if self._hint_ok else BAD)
        background.setAlpha(215)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(box, 8, 8)
        painter.setPen(QColor("white"))
        painter.drawText(box.adjusted(12, 6, -12, -6),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._hint)

    # -- mouse and drops -------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt name)
        if self._image.isNull() or len(self._marks) < 2:
            return super().mousePressEvent(event)
        target = self._target()
        point = QPointF(event.position())
        for index, mark in enumerate(self._marks):
            if self._mark_rect(mark, target).contains(point):
                self.face_clicked.emit(index)
                return None
        return super().mousePressEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if self._dropped_file(event) is not None:
            self._drag_active = True
            self.update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt name)
        self._drag_active = False
        self.update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt name)
        self._drag_active = False
        self.update()
        path = self._dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.file_dropped.emit(path)

    @staticmethod
    def _dropped_file(event: QDragEnterEvent | QDropEvent) -> str | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and is_image_file(url.toLocalFile()):
                return url.toLocalFile()
        return None


def fixed_width(*buttons: QWidget) -> None:
    """Keep buttons at their natural width in a bar (a hidden message beside them must not
    let them stretch across the window)."""
    for button in buttons:
        button.setSizePolicy(QSizePolicy.Policy.Fixed, button.sizePolicy().verticalPolicy())


def section_title(text: str) -> QLabel:
    """A bold heading for a group of controls."""
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.1)
    label.setFont(font)
    return label


def crop_label(size: int, text: str = "") -> QLabel:
    """A framed square label to show a face crop in."""
    label = QLabel(text)
    label.setFixedSize(size, size)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("QLabel { background: #eceff3; border: 1px solid #c5cad1; "
                        "color: #6b7280; }")
    return label


def set_crop(label: QLabel, data: bytes | None, empty_text: str = "No photo") -> None:
    """Show a face crop in a label made by :func:`crop_label`."""
    pixmap = jpeg_to_pixmap(data, label.width() - 4)
    if pixmap.isNull():
        label.setPixmap(QPixmap())
        label.setText(empty_text)
    else:
        label.setText("")
        label.setPixmap(pixmap)


__all__ = [
    "BAD", "GOOD", "IMAGE_FILTER", "NEUTRAL", "WARN", "FaceMark", "MessageLabel", "PhotoView",
    "bgr_to_qimage", "crop_label", "datetime_to_qdate", "fixed_width", "format_date",
    "format_local", "is_image_file", "jpeg_to_image", "jpeg_to_pixmap", "qdate_to_end",
    "qdate_to_start", "section_title", "set_crop", "to_local",
]
