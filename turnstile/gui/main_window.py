"""The main window: a list of pages on the left, the current page on the right."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from turnstile import __version__
from turnstile.app import AppContext

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Pages: Door, Enroll, People, Access log, Settings (Ctrl+1 .. Ctrl+5).

    Each page is a QWidget with a ``title`` attribute and an optional ``shutdown()`` that
    is called when the window closes (stop workers, close the door).
    """

    def __init__(self, ctx: AppContext, source: str | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"Turnstile {__version__}")
        self.resize(1280, 760)
        self.setMinimumSize(1024, 640)

        from turnstile.gui.door_page import DoorPage
        from turnstile.gui.enroll_page import EnrollPage
        from turnstile.gui.log_page import AccessLogPage
        from turnstile.gui.people_page import PeoplePage
        from turnstile.gui.settings_page import SettingsPage

        self.door = DoorPage(ctx, source=source)
        self.enroll = EnrollPage(ctx)
        self.people = PeoplePage(ctx)
        self.settings_page = SettingsPage(ctx)
        self.pages: list[QWidget] = [self.door, self.enroll, self.people, AccessLogPage(ctx),
                                     self.settings_page]
        # What the desk changes reaches the door at once, not at the next periodic reload.
        self.enroll.enrolled.connect(self.door.reload_gallery)
        self.people.person_changed.connect(self.door.reload_gallery)
        self.people.person_deleted.connect(self.door.reload_gallery)
        self.settings_page.settings_changed.connect(self._settings_changed)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(180)
        self.nav.setStyleSheet(
            "QListWidget#nav { font-size: 15px; border: none; background: palette(window); }"
            "QListWidget#nav::item { padding: 12px 16px; }"
            "QListWidget#nav::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }")
        self.stack = QStackedWidget()
        for i, page in enumerate(self.pages):
            item = QListWidgetItem(getattr(page, "title", type(page).__name__))
            item.setToolTip(f"Ctrl+{i + 1}")
            self.nav.addItem(item)
            self.stack.addWidget(page)
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self,
                      activated=lambda i=i: self.nav.setCurrentRow(i))
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Database: {ctx.database_url.split('?')[0]}")
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _settings_changed(self, settings: object) -> None:
        self.door.reload_gallery()  # new thresholds
        source = getattr(settings, "camera_source", None)
        if source and not self.door.is_demo and source != self.door.source:
            self.door.set_source(source)

    def show_page(self, page_type: type) -> QWidget:
        """Switch to the page of that class and return it."""
        for i, page in enumerate(self.pages):
            if isinstance(page, page_type):
                self.nav.setCurrentRow(i)
                return page
        raise LookupError(page_type.__name__)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        for page in self.pages:
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown()
        super().closeEvent(event)
