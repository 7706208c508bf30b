"""The People page."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from turnstile.app import AppContext


class PeoplePage(QWidget):
    title = "People"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("People"))
