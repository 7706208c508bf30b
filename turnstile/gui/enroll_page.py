"""The Enroll page: add a person (or a photo of someone enrolled) from a photo file or the
camera, with the quality advice and the duplicate warning of the enrollment service.

Everything slow runs in the background: reading and analysing the photo (face boxes,
quality, duplicate search) as soon as it is chosen, and saving. The preview shows numbered
face boxes; with several faces the operator clicks one (or picks its number).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QImage, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.errors import ImageError, MultipleFacesError, NoFaceError, TurnstileError
from turnstile.gui.dialogs import error_text, show_error
from turnstile.gui.enroll_camera import EnrollCamera, LiveFeedback
from turnstile.gui.enroll_dialogs import DuplicateFaceDialog
from turnstile.gui.tasks import run_task
from turnstile.gui.widgets_common import (
    IMAGE_FILTER,
    FaceMark,
    MessageLabel,
    PhotoView,
    bgr_to_qimage,
    crop_label,
    qdate_to_end,
    qdate_to_start,
    section_title,
    set_crop,
)
from turnstile.services.access_log_query import Choice, person_choices
from turnstile.services.enrollment import (
    ConsentRequiredError,
    DuplicateFaceError,
    EnrollmentResult,
    PhotoCheck,
    PoorQualityError,
)
from turnstile.services.people import PeopleService
from turnstile.storage.errors import DuplicateEmployeeNumber, EmployeeNotFound, ValidationError
from turnstile.vision.imageio import read_image

log = logging.getLogger(__name__)

CONSENT_TEXT_VERSION = "desk-consent-1"
"""Stored with each person enrolled from the window; change it when the text changes."""
CONSENT_TEXT = (
    "I agree that my employer stores a photo of my face and a face template (numbers "
    "computed from the photo) so that the door can recognise me. They stay on this site's "
    "computer, are used only to open the door and to record when I pass, and are deleted "
    "when I leave or when I ask. I can withdraw my consent at any time at the front desk "
    "and will then be given another way in."
)
"""Read to (or by) the person before their face is stored."""

RESULT_CROP_PX = 120
PHOTO_MESSAGE_LINES = 2
"""Lines kept for the message under the photo, shown or not (most messages fit in two)."""
PLACEHOLDER = ("Drop a photo here, or use \"Open photo...\" or \"Start camera\".\n\n"
               "A good photo: one person, facing the camera, evenly lit, face clearly "
               "visible.")


@dataclass
class PhotoAnalysis:
    """What the background check of a photo found.

    Attributes:
        seq: the request number (older answers are dropped).
        boxes: every face found, largest first.
        face_index: the face checked (0-based), or None when there is none.
        check: the enrollment service's check of that face, or None.
        error: why the photo cannot be used (no face, unreadable...), or None.
    """

    seq: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    face_index: int | None = None
    check: PhotoCheck | None = None
    error: BaseException | None = None


@dataclass
class DuplicateInfo:
    """A duplicate warning with the enrolled person's stored face, ready for the dialog."""

    error: DuplicateFaceError
    other_crop: bytes | None


class EnrollPage(QWidget):
    """Enroll a new person, or add/replace the photo of an enrolled one.

    Signals:
        photo_analysed(PhotoAnalysis): the chosen photo was checked.
        enrolled(EnrollmentResult): a person or photo was saved.
        enroll_failed(object): saving failed (the exception; the page already says why).
    """

    title = "Enroll"

    photo_analysed = Signal(object)
    enrolled = Signal(object)
    enroll_failed = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.people = PeopleService.for_context(ctx)
        self._frame: np.ndarray | None = None
        self._source: str = "photo"
        self._source_name: str | None = None
        self._analysis: PhotoAnalysis | None = None
        self._seq = 0
        self._saving = False
        self._choices: list[Choice] = []
        self.duplicate_dialog: DuplicateFaceDialog | None = None
        self.last_feedback: LiveFeedback | None = None
        self.camera = EnrollCamera(self)
        self.camera.frame_ready.connect(self._on_camera_frame)
        self.camera.error_occurred.connect(self._on_camera_error)
        self.camera.stopped.connect(self._update_buttons)
        self._build()
        self._update_buttons()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(16, 16, 16, 12)
        root.setSpacing(16)

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addWidget(section_title("Photo"))
        self.preview = PhotoView(PLACEHOLDER)
        self.preview.file_dropped.connect(self.load_photo)
        self.preview.face_clicked.connect(self._choose_face)
        left.addWidget(self.preview, 1)
        # Between the photo and the buttons, with its room kept while empty: a message that
        # comes, goes or grows takes its lines from the photo and never moves the buttons.
        self.photo_message = MessageLabel()
        self.photo_message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.photo_message.setMinimumHeight(
            PHOTO_MESSAGE_LINES * self.photo_message.fontMetrics().lineSpacing())
        keep_room = self.photo_message.sizePolicy()
        keep_room.setRetainSizeWhenHidden(True)
        self.photo_message.setSizePolicy(keep_room)
        left.addWidget(self.photo_message)
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open photo...")
        self.open_button.setToolTip("Choose a photo file (Ctrl+O)")
        self.open_button.setShortcut("Ctrl+O")
        self.open_button.clicked.connect(self._browse)
        self.camera_button = QPushButton("Start camera")
        self.camera_button.clicked.connect(self._toggle_camera)
        self.capture_button = QPushButton("Take photo")
        self.capture_button.setStyleSheet("QPushButton { font-weight: bold; padding: 4px 14px; }")
        self.capture_button.setToolTip("Keep the current camera picture (Space)")
        self.capture_button.clicked.connect(self.take_photo)
        bar.addWidget(self.open_button)
        bar.addWidget(self.camera_button)
        bar.addWidget(self.capture_button)
        bar.addStretch(1)
        self.face_label = QLabel("Face:")
        self.face_spin = QSpinBox()
        self.face_spin.setMinimum(1)
        self.face_spin.setToolTip("Which face to enroll (numbered on the photo, largest first)")
        self.face_spin.valueChanged.connect(lambda v: self._choose_face(v - 1))
        bar.addWidget(self.face_label)
        bar.addWidget(self.face_spin)
        left.addLayout(bar)
        root.addLayout(left, 3)

        # The form scrolls on small screens rather than squeezing its fields.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form_host = QWidget()
        form_col = QVBoxLayout(form_host)
        form_col.setContentsMargins(0, 0, 8, 0)
        form_col.setSpacing(10)
        scroll.setWidget(form_host)
        scroll.setMinimumWidth(400)
        root.addWidget(scroll, 2)

        form_col.addWidget(section_title("Who"))
        modes = QHBoxLayout()
        self.mode_new = QRadioButton("New person")
        self.mode_existing = QRadioButton("Photo of someone enrolled")
        self.mode_new.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.mode_new)
        group.addButton(self.mode_existing)
        self.mode_new.toggled.connect(self._mode_changed)
        modes.addWidget(self.mode_new)
        modes.addWidget(self.mode_existing)
        modes.addStretch(1)
        form_col.addLayout(modes)

        self.existing_box = QWidget()
        existing = QFormLayout(self.existing_box)
        existing.setContentsMargins(0, 0, 0, 0)
        self.person_combo = QComboBox()
        self.person_combo.setEditable(True)
        self.person_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.person_combo.lineEdit().setPlaceholderText("Type a name or number")
        completer = self.person_combo.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.replace_check = QCheckBox("Replace their old photos (re-enroll)")
        self.replace_check.setToolTip("Delete the person's stored face templates and keep only "
                                      "this photo (for example after a big change of looks)")
        existing.addRow("Person:", self.person_combo)
        existing.addRow("", self.replace_check)
        form_col.addWidget(self.existing_box)

        self.details_box = QWidget()
        form = QFormLayout(self.details_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.number_edit = QLineEdit()
        self.number_edit.setPlaceholderText("e.g. E1042")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("First and last name")
        self.department_edit = QLineEdit()
        self.department_edit.setPlaceholderText("Optional")
        form.addRow("Employee number:", self.number_edit)
        form.addRow("Name:", self.name_edit)
        form.addRow("Department:", self.department_edit)
        self.from_check, self.from_date = _optional_date("Starts on")
        self.until_check, self.until_date = _optional_date("Ends on")
        self.until_date.setDate(QDate.currentDate().addYears(1))
        form.addRow("Access:", _row(self.from_check, self.from_date))
        form.addRow("", _row(self.until_check, self.until_date))
        form_col.addWidget(self.details_box)

        form_col.addWidget(section_title("Consent"))
        consent_text = QLabel(CONSENT_TEXT)
        consent_text.setWordWrap(True)
        consent_text.setStyleSheet("QLabel { background: #f4f6f8; border: 1px solid #d5dae0; "
                                   "border-radius: 4px; padding: 8px; }")
        consent_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form_col.addWidget(consent_text)
        self.consent_check = QCheckBox("The person has read this and agrees")
        form_col.addWidget(self.consent_check)

        actions = QHBoxLayout()
        self.enroll_button = QPushButton("Enroll")
        self.enroll_button.setDefault(True)
        self.enroll_button.setMinimumWidth(120)
        self.enroll_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 18px; }")
        self.enroll_button.clicked.connect(lambda: self.save())
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        actions.addWidget(self.enroll_button)
        actions.addWidget(self.clear_button)
        actions.addStretch(1)
        form_col.addLayout(actions)
        self.message = MessageLabel()
        form_col.addWidget(self.message)

        result = QHBoxLayout()
        self.result_crop = crop_label(RESULT_CROP_PX)
        self.result_crop.hide()
        self.result_text = QLabel()
        self.result_text.setWordWrap(True)
        self.result_text.setSizePolicy(QSizePolicy.Policy.Expanding,
                                       QSizePolicy.Policy.Preferred)
        result.addWidget(self.result_crop, 0, Qt.AlignmentFlag.AlignTop)
        result.addWidget(self.result_text, 1, Qt.AlignmentFlag.AlignTop)
        form_col.addLayout(result)
        form_col.addStretch(1)
        # A problem with the form is stale once the field is edited (Enroll checks again).
        for edit in (self.number_edit, self.name_edit, self.department_edit):
            edit.textChanged.connect(self._form_edited)
        for check in (self.consent_check, self.from_check, self.until_check,
                      self.replace_check):
            check.toggled.connect(self._form_edited)
        self.until_date.dateChanged.connect(self._form_edited)
        self.from_date.dateChanged.connect(self._form_edited)
        self.person_combo.currentIndexChanged.connect(self._form_edited)
        self._mode_changed()

    # -- page life -------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.refresh_people()

    def shutdown(self) -> None:
        """Release the camera (called when the window closes)."""
        self.camera.stop()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        # Another page (the Door) needs the camera: never keep it while not shown.
        if self.camera.running:
            self.camera.stop()
            self._update_buttons()
        super().hideEvent(event)

    def refresh_people(self) -> None:
        """Reload the list of enrolled people (for adding a photo)."""
        run_task(lambda: person_choices(self.ctx.db), self._set_choices,
                 lambda exc: log.warning("people list not loaded: %s", exc))

    def _set_choices(self, choices: list[Choice]) -> None:
        current = self.selected_person()
        self._choices = choices
        self.person_combo.blockSignals(True)
        self.person_combo.clear()
        for choice in choices:
            self.person_combo.addItem(choice.label, choice.id)
        self.person_combo.setCurrentIndex(-1)
        if current is not None:
            self.select_person(current)
        self.person_combo.blockSignals(False)

    def select_person(self, employee_id: int) -> bool:
        """Choose an enrolled person in the "photo of someone enrolled" list."""
        index = self.person_combo.findData(employee_id)
        if index < 0:
            return False
        self.person_combo.setCurrentIndex(index)
        return True

    def selected_person(self) -> int | None:
        if self.person_combo.currentIndex() < 0:
            return None
        # A typed text that matches no person must not silently pick the last one.
        if self.person_combo.currentText() != self.person_combo.itemText(
                self.person_combo.currentIndex()):
            return None
        data = self.person_combo.currentData()
        return int(data) if data is not None else None

    def start_add_photo(self, employee_id: int, replace: bool = False) -> None:
        """Prepare the page to add (or, with ``replace``, re-enroll) a person's photo."""
        self.mode_existing.setChecked(True)
        self.replace_check.setChecked(replace)
        self.message.clear_message()
        if not self.select_person(employee_id):
            # The list may be older than the person: load it, then select.
            def chosen(choices: list[Choice]) -> None:
                self._set_choices(choices)
                self.select_person(employee_id)

            run_task(lambda: person_choices(self.ctx.db), chosen,
                     lambda exc: self.message.error(error_text(exc)))

    def _mode_changed(self) -> None:
        new = self.mode_new.isChecked()
        self.existing_box.setVisible(not new)
        self.details_box.setVisible(new)
        self.enroll_button.setText("Enroll" if new else "Save photo")
        # What was said about the other mode's form (or its last save) no longer applies.
        self._forget_outcome()
        if self._frame is not None:
            self._analyse(self._analysis.face_index if self._analysis else None)
        elif self.photo_message.kind == "error" and not self.camera.running:
            self.photo_message.clear_message()  # e.g. a camera that could not be opened

    def _forget_outcome(self) -> None:
        """Clear the form's message and the last save's result (another photo or another
        mode: a new enrollment has begun)."""
        self.message.clear_message()
        self._clear_result()

    def _form_edited(self, *args: Any) -> None:
        if self.message.kind == "error":
            self.message.clear_message()

    # -- choosing a photo ------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", str(Path.home()),
                                              IMAGE_FILTER)
        if path:
            self.load_photo(path)

    def load_photo(self, path: str) -> None:
        """Use a photo file (read and checked in the background)."""
        self.camera.stop()
        self._source, self._source_name = "photo", Path(path).name
        self._frame = None
        self._seq += 1
        seq = self._seq
        self.preview.clear_image()
        self.photo_message.info("Reading the photo...")
        self._forget_outcome()

        def work() -> tuple[np.ndarray, PhotoAnalysis]:
            frame = read_image(path)
            return frame, self._analyse_now(frame, seq, None, self._exclude())

        run_task(work, lambda out: self._on_loaded(seq, *out),
                 lambda exc: self._on_analysis(PhotoAnalysis(seq, error=exc)))

    def set_frame(self, frame: np.ndarray, source: str = "camera",
                  source_name: str | None = None) -> None:
        """Use a picture already in memory (a camera frame), checked in the background."""
        self._source, self._source_name = source, source_name
        self._frame = frame
        self.preview.set_image(bgr_to_qimage(frame))
        self._forget_outcome()
        self._analyse(None)

    def _on_loaded(self, seq: int, frame: np.ndarray, analysis: PhotoAnalysis) -> None:
        if seq != self._seq:
            return
        self._frame = frame
        self.preview.set_image(bgr_to_qimage(frame))
        self._on_analysis(analysis)

    def _exclude(self) -> int | None:
        return self.selected_person() if self.mode_existing.isChecked() else None

    def _analyse(self, face_index: int | None) -> None:
        if self._frame is None:
            return
        self._seq += 1
        seq, frame, exclude = self._seq, self._frame, self._exclude()
        self.photo_message.info("Checking the photo...")
        run_task(lambda: self._analyse_now(frame, seq, face_index, exclude),
                 self._on_analysis,
                 lambda exc: self._on_analysis(PhotoAnalysis(seq, error=exc)))

    def _analyse_now(self, frame: np.ndarray, seq: int, face_index: int | None,
                     exclude: int | None) -> PhotoAnalysis:
        """Runs in the background: faces, quality and duplicate search for one face."""
        faces = self.ctx.photo_pipeline.detect(frame)
        boxes = [tuple(float(v) for v in f.box) for f in faces]
        if not faces:
            return PhotoAnalysis(seq, error=NoFaceError(
                "No face was found in this photo. Use a photo where the face is clearly "
                "visible and facing the camera."))
        index = face_index if face_index is not None and 0 <= face_index < len(faces) else 0
        try:
            check = self.ctx.enrollment.check_photo(frame, face_index=index,
                                                    exclude_employee=exclude)
        except (NoFaceError, MultipleFacesError) as exc:
            return PhotoAnalysis(seq, boxes, index, error=exc)  # type: ignore[arg-type]
        return PhotoAnalysis(seq, boxes, index, check)  # type: ignore[arg-type]

    def _on_analysis(self, analysis: PhotoAnalysis) -> None:
        if analysis.seq != self._seq:
            return
        self._analysis = analysis
        count = len(analysis.boxes)
        self.face_spin.blockSignals(True)
        self.face_spin.setMaximum(max(1, count))
        if analysis.face_index is not None:
            self.face_spin.setValue(analysis.face_index + 1)
        self.face_spin.blockSignals(False)
        marks = []
        quality_ok = analysis.check is not None and analysis.check.quality.ok
        for i, box in enumerate(analysis.boxes):
            selected = i == analysis.face_index
            marks.append(FaceMark(box, str(i + 1) if count > 1 else "",
                                  ok=quality_ok if selected else True, selected=selected))
        self.preview.set_marks(marks)
        if analysis.error is not None:
            self.photo_message.error(error_text(analysis.error))
        elif analysis.check is not None:
            self.photo_message.clear_message()
            self._describe_check(analysis.check, count, analysis.face_index or 0)
        self._update_buttons()
        self.photo_analysed.emit(analysis)

    def _describe_check(self, check: PhotoCheck, count: int, index: int) -> None:
        lines = []
        if count > 1:
            lines.append(f"This photo shows {count} faces: face {index + 1} is selected. "
                         f"Click another face, or change the number, to enroll someone else.")
        if check.quality.ok:
            lines.append("The face is good for enrollment.")
        else:
            lines.append("This face cannot be enrolled: " + check.quality.advice())
        if check.duplicate_of is not None:
            _, number, name, _score = check.duplicate_of
            lines.append(f"Note: this face looks like {name} ({number}), who is already "
                         f"enrolled.")
        text = " ".join(lines)
        if not check.quality.ok:
            self.photo_message.error(text)
        elif check.duplicate_of is not None or count > 1:
            self.photo_message.warning(text)
        else:
            self.photo_message.success(text)

    def _choose_face(self, index: int) -> None:
        if self._analysis is None or not 0 <= index < len(self._analysis.boxes):
            return
        if index != self._analysis.face_index:
            self._analyse(index)

    # -- camera ----------------------------------------------------------------------------
    def _toggle_camera(self) -> None:
        if self.camera.running:
            self.camera.stop()
        else:
            self.start_camera()
        self._update_buttons()

    def start_camera(self, source: str | None = None) -> None:
        """Start the live preview (``source`` defaults to the camera in Settings)."""
        self._seq += 1  # a photo analysis still running is no longer wanted
        self._frame = None
        self._analysis = None
        self.preview.clear_image()
        self.preview.placeholder = "Starting the camera..."
        self.photo_message.info("Ask the person to look at the camera; take the photo when "
                                "the preview says it is good.")
        self._forget_outcome()
        self.camera.start(source or self.ctx.settings.camera_source)
        self._update_buttons()

    def _on_camera_frame(self, image: QImage, feedback: LiveFeedback) -> None:
        if not self.camera.running:
            return
        marks = [FaceMark(b, "", ok=ok, selected=(i == 0 or len(feedback.boxes) == 1))
                 for i, (b, ok) in enumerate(zip(feedback.boxes, feedback.ok))]
        self.preview.set_image(image, marks, feedback.hint, feedback.ready)
        self.last_feedback = feedback

    def _on_camera_error(self, text: str) -> None:
        self.preview.placeholder = PLACEHOLDER
        self.preview.clear_image()
        self.photo_message.error(text)
        self._update_buttons()

    def take_photo(self) -> None:
        """Keep the current camera picture as the photo to enroll."""
        frame = self.camera.latest_frame()
        if frame is None:
            self.photo_message.error("The camera has not sent a picture yet.")
            return
        self.camera.stop()
        self.preview.placeholder = PLACEHOLDER
        self.set_frame(frame, "camera", None)
        self._update_buttons()

    # -- saving ----------------------------------------------------------------------------
    def _details(self) -> dict[str, Any] | None:
        """The form's values, or None after saying what is missing."""
        if self.mode_new.isChecked():
            number = self.number_edit.text().strip()
            name = self.name_edit.text().strip()
            if not number:
                return self._field_error(self.number_edit, "Enter the employee number.")
            if not name:
                return self._field_error(self.name_edit, "Enter the person's name.")
            valid_from = qdate_to_start(self.from_date.date()) \
                if self.from_check.isChecked() else None
            valid_until = qdate_to_end(self.until_date.date()) \
                if self.until_check.isChecked() else None
            if valid_from and valid_until and valid_from > valid_until:
                return self._field_error(self.until_date,
                                         "The end of access is before its start.")
            if not self.consent_check.isChecked():
                return self._field_error(self.consent_check,
                                         "Tick the consent box: a face may only be stored "
                                         "when the person agrees.")
            return {"employee_number": number, "name": name,
                    "department": self.department_edit.text().strip() or None,
                    "valid_from": valid_from, "valid_until": valid_until}
        person = self.selected_person()
        if person is None:
            return self._field_error(self.person_combo,
                                     "Choose the enrolled person this photo is of.")
        return {"employee_id": person, "replace": self.replace_check.isChecked()}

    def _field_error(self, widget: QWidget, text: str) -> None:
        self.message.error(text)
        widget.setFocus()
        return None

    def save(self, force: bool = False) -> bool:
        """Enroll (or save the photo) in the background. Returns whether it started."""
        if self._saving:
            return False
        if self._frame is None:
            self.message.error("Choose a photo first: open a file, drop one on the preview, "
                               "or take one with the camera.")
            return False
        details = self._details()
        if details is None:
            return False
        analysis = self._analysis
        face_index = analysis.face_index if analysis is not None else None
        if analysis is not None and analysis.error is not None and \
                isinstance(analysis.error, (NoFaceError, ImageError)):
            self.message.error(error_text(analysis.error))
            return False
        frame, source, source_name = self._frame, self._source, self._source_name
        enrollment_kwargs = {"face_index": face_index if face_index is not None else None,
                             "force": force, "source": source, "source_name": source_name}

        def work() -> EnrollmentResult | DuplicateInfo:
            try:
                if "employee_id" in details:
                    return self.ctx.enrollment.add_photo(
                        details["employee_id"], frame, replace=details["replace"],
                        **enrollment_kwargs)
                return self.ctx.enrollment.enroll(
                    frame, consent=True, consent_text_version=CONSENT_TEXT_VERSION,
                    **details, **enrollment_kwargs)
            except DuplicateFaceError as exc:
                try:
                    _, crop = self.people.face_crop_by_number(exc.employee_number)
                except EmployeeNotFound:
                    crop = None
                return DuplicateInfo(exc, crop)

        self._saving = True
        self._update_buttons()
        self.message.info("Saving...")
        run_task(work, self._on_saved, self._on_save_error)
        return True

    def _on_saved(self, outcome: EnrollmentResult | DuplicateInfo) -> None:
        self._saving = False
        self._update_buttons()
        if isinstance(outcome, DuplicateInfo):
            self._ask_duplicate(outcome)
            return
        result = outcome
        set_crop(self.result_crop, result.face_crop_jpeg)
        self.result_crop.show()
        adding = self.mode_existing.isChecked()
        who = self.person_combo.currentText() if adding else \
            f"{self.name_edit.text().strip()} ({result.employee_number})"
        if adding:
            done = ("Their old photos were replaced by this one." if self.replace_check
                    .isChecked() else "The photo was added.")
            text = f"<b>{_html(who)}</b>: {done} The stored face is shown here."
        else:
            text = (f"<b>{_html(who)}</b> is enrolled. The door recognises them from now "
                    f"on. The stored face is shown here.")
        if result.warnings:
            text += "<br>Note: " + _html("; ".join(result.warnings))
        self.result_text.setText(text)
        self.message.success("Saved.")
        self.ctx.audit("add_photo" if adding else "enroll", f"employee {result.employee_number}",
                       f"desktop app; template {result.template_id}"
                       + ("; old photos replaced" if adding and self.replace_check.isChecked()
                          else ""))
        self._reset_after_save()
        self.enrolled.emit(result)

    def _on_save_error(self, exc: BaseException) -> None:
        self._saving = False
        self._update_buttons()
        if isinstance(exc, DuplicateEmployeeNumber):
            self._field_error(self.number_edit, f"{exc} Use another number, or add the photo "
                                                f"to that person instead.")
        elif isinstance(exc, ValidationError):
            widget = {"employee_number": self.number_edit, "name": self.name_edit,
                      "department": self.department_edit,
                      "valid_until": self.until_date}.get(exc.field, self.name_edit)
            self._field_error(widget, str(exc))
        elif isinstance(exc, PoorQualityError):
            self.message.error(f"Not saved: {exc}")
        elif isinstance(exc, (ConsentRequiredError, NoFaceError, MultipleFacesError,
                              ImageError, EmployeeNotFound)):
            self.message.error(f"Not saved: {exc}")
        elif isinstance(exc, TurnstileError):
            self.message.error(f"Not saved: {exc}")
        else:
            self.message.error("Not saved: an unexpected error happened.")
            show_error(self, "Enrollment failed", exc)
        self.enroll_failed.emit(exc)

    def _ask_duplicate(self, info: DuplicateInfo) -> None:
        check = self._analysis.check if self._analysis is not None else None
        new_crop = _chip_jpeg(check.face.chip) if check is not None and \
            check.face.chip is not None else None
        exc = info.error
        self.message.warning(str(exc))
        dialog = DuplicateFaceDialog(exc.name, exc.employee_number, exc.score, new_crop,
                                     info.other_crop, self.mode_existing.isChecked(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.save(force=True))
        dialog.finished.connect(lambda _result: setattr(self, "duplicate_dialog", None))
        self.duplicate_dialog = dialog
        dialog.open()

    # -- state -----------------------------------------------------------------------------
    def _reset_after_save(self) -> None:
        self._seq += 1
        self._frame = None
        self._analysis = None
        self.preview.clear_image()
        self.photo_message.clear_message()
        for edit in (self.number_edit, self.name_edit, self.department_edit):
            edit.clear()
        self.from_check.setChecked(False)
        self.until_check.setChecked(False)
        self.consent_check.setChecked(False)
        self.replace_check.setChecked(False)
        self.refresh_people()
        self._update_buttons()

    def clear(self) -> None:
        """Forget the photo and the form."""
        self.camera.stop()
        self._reset_after_save()
        self.person_combo.setCurrentIndex(-1)
        self.message.clear_message()
        self._clear_result()

    def _clear_result(self) -> None:
        self.result_crop.hide()
        self.result_text.clear()

    def _update_buttons(self) -> None:
        running = self.camera.running
        self.camera_button.setText("Stop camera" if running else "Start camera")
        self.capture_button.setEnabled(running)
        self.capture_button.setVisible(running)
        self.capture_button.setDefault(running)
        self.enroll_button.setDefault(not running)
        several = self._analysis is not None and len(self._analysis.boxes) > 1
        self.face_label.setVisible(several and not running)
        self.face_spin.setVisible(several and not running)
        self.enroll_button.setEnabled(not self._saving and not running)
        self.clear_button.setEnabled(not self._saving)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key.Key_Space and self.camera.running:
            self.take_photo()
            return
        super().keyPressEvent(event)


def _row(*widgets: QWidget) -> QWidget:
    host = QWidget()
    layout = QHBoxLayout(host)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return host


def _optional_date(label: str) -> tuple[QCheckBox, QDateEdit]:
    check = QCheckBox(label)
    check.setMinimumWidth(90)
    check.setToolTip("Untick for no limit")
    edit = QDateEdit(QDate.currentDate())
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setEnabled(False)
    check.toggled.connect(edit.setEnabled)
    return check, edit


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chip_jpeg(chip: np.ndarray) -> bytes | None:
    """The aligned RGB face chip as a JPEG (to show the face about to be enrolled)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))
    return data.tobytes() if ok else None
