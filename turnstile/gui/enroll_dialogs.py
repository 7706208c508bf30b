"""Dialogs of the Enroll page: the "this face looks like someone enrolled" warning."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from turnstile.gui.widgets_common import crop_label, set_crop

CROP_PX = 160


class DuplicateFaceDialog(QDialog):
    """Shows the new face next to the enrolled person it looks like.

    "Enroll anyway" stays disabled until the operator ticks that they checked it is a
    different person (an accidental Enter cannot create a duplicate).

    Args:
        name, employee_number, score: the enrolled person the face looks like.
        new_crop: the face about to be enrolled (JPEG), if known.
        other_crop: the enrolled person's stored face (JPEG), if any.
        adding_photo: the photo is being added to an existing person (wording).
    """

    def __init__(self, name: str, employee_number: str, score: float,
                 new_crop: bytes | None, other_crop: bytes | None,
                 adding_photo: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("This face may already be enrolled")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<p>The new photo looks very much like <b>{_html(name)}</b> (employee "
            f"{_html(employee_number)}), who is already enrolled (similarity "
            f"{score:.3f}).</p><p>If it is the same person, cancel and "
            f"{'add the photo to their record' if not adding_photo else 'check the record'}"
            f" on the People page instead. Enroll anyway only if you are sure it is someone "
            f"else (twins, for example).</p>")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)

        faces = QGridLayout()
        self.new_face = crop_label(CROP_PX)
        set_crop(self.new_face, new_crop, "New photo")
        self.other_face = crop_label(CROP_PX)
        set_crop(self.other_face, other_crop, "No stored photo")
        faces.addWidget(self.new_face, 0, 0, Qt.AlignmentFlag.AlignCenter)
        faces.addWidget(self.other_face, 0, 1, Qt.AlignmentFlag.AlignCenter)
        faces.addWidget(_caption("New photo"), 1, 0)
        faces.addWidget(_caption(f"Enrolled: {name} ({employee_number})"), 1, 1)
        layout.addLayout(faces)

        self.confirm = QCheckBox("I have checked: this is a different person")
        layout.addWidget(self.confirm)
        buttons = QDialogButtonBox()
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.enroll_button = QPushButton("Enroll anyway")
        self.enroll_button.setEnabled(False)
        buttons.addButton(self.enroll_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button.setDefault(True)
        self.confirm.toggled.connect(self.enroll_button.setEnabled)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    return label


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
