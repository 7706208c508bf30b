"""The first-run dialog keeps its fields readable when it says what is wrong (real widgets,
offscreen)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from turnstile.gui.first_run import FirstRunDialog


def test_a_message_grows_the_dialog_instead_of_squeezing_the_fields(ctx, qtbot) -> None:
    dialog = FirstRunDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    fields = (dialog.user_edit, dialog.password_edit, dialog.confirm_edit, dialog.create_button)
    height_before = dialog.height()

    def readable() -> bool:
        message = dialog.message
        return (all(f.height() >= f.sizeHint().height() for f in fields)
                and message.height() >= message.heightForWidth(message.width()))

    qtbot.keyClicks(dialog.user_edit, "boss")
    qtbot.keyClicks(dialog.password_edit, "short")
    qtbot.keyClicks(dialog.confirm_edit, "short")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert dialog.message.isVisible() and "at least 10" in dialog.message.text()
    qtbot.waitUntil(readable, timeout=2_000)
    assert dialog.height() > height_before

    # A longer message at the narrowest width: still every line and every field.
    dialog.resize(dialog.minimumWidth(), dialog.height())
    qtbot.keyClicks(dialog.confirm_edit, "something else entirely")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "differ" in dialog.message.text()
    qtbot.waitUntil(readable, timeout=2_000)
