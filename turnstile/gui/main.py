"""Starting the desktop app."""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def run_app(args: argparse.Namespace) -> int:
    """Start the window; returns the process exit code."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from turnstile import resources
    from turnstile.app import AppContext
    from turnstile.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Turnstile")
    app.setOrganizationName("Turnstile")
    icon = resources.icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    ctx = AppContext(database_url=getattr(args, "db", None))
    source = "demo" if getattr(args, "demo", False) else getattr(args, "source", None)
    window = MainWindow(ctx, source=source)
    window.show()
    try:
        return int(app.exec())
    finally:
        ctx.close()
