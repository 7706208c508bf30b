"""The Settings page: camera, recognition thresholds (with the score distributions from the
log to guide them, the false-accept and false-reject rates to expect with the people enrolled
now, and a calibration dialog), door hardware with a test button, snapshots and retention.

The rates and the calibration follow the door mode chosen in the form, before it is saved:
in 1:N mode (the face alone) they are those of the accept threshold with the people enrolled;
in 1:1 mode (a badge or number first) those of the 1:1 threshold the door uses instead, which
is the calibrated 1:1 default (not a setting).

Saving validates everything first (the settings dataclass, the combination of thresholds, the
door configuration) and names the field at fault; then ``config.toml`` and ``door.toml`` are
written atomically, ``ctx.settings`` is replaced, the recognition thresholds take effect at
once, and :attr:`SettingsPage.settings_changed` tells the rest of the window.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.config import (
    MAX_FAILED_LOGINS_LIMIT,
    MAX_IDLE_LOGOUT_MIN,
    MAX_RETENTION_DAYS,
    MAX_SPOOF_ATTEMPTS,
    MAX_SPOOF_LOCKOUT_MIN,
    MAX_UNLOCK_MS,
    Settings,
    SettingsError,
    save_settings,
)
from turnstile.door.base import DoorError
from turnstile.door.config import DoorConfig, load_door_config
from turnstile.errors import TurnstileError
from turnstile.gui.charts import ScoreHistogramChart
from turnstile.gui.dialogs import error_text
from turnstile.gui.settings_door import DoorTestResult, save_door_config, try_door
from turnstile.gui.tasks import run_task
from turnstile.gui.widgets_common import BAD, MessageLabel, fixed_width, keep_height_for_text
from turnstile.matching.policy import (
    CONFIRM_ACCEPT_THRESHOLD,
    CONFIRM_REJECT_THRESHOLD,
    CONFIRM_THRESHOLDS,
    Thresholds,
    default_thresholds,
)
from turnstile.resources import confirm_model_id
from turnstile.services import calibration as cal
from turnstile.services.access_log_query import EventFilter, ScoreHistogram, score_histogram
from turnstile.services.audit import SETTINGS_CHANGE
from turnstile.services.recognition import load_thresholds

log = logging.getLogger(__name__)

BACKENDS = (("simulated", "On screen only (no hardware)"), ("serial", "USB / serial relay"),
            ("http", "Network door controller (HTTP)"), ("gpio", "GPIO pin (Raspberry Pi)"))
SNAPSHOT_CHOICES = (("all", "For every event"), ("denied", "Only when the door stays shut"),
                    ("none", "Never"))
DOOR_MODE_CHOICES = (("identify", "The face alone (1:N)"),
                     ("verify", "Badge or employee number, then the face (1:1)"))
LIVENESS_CHOICES = (("passive", "Passive: wait for a natural blink"),
                    ("challenge", "Challenge: ask for a blink or a head turn"),
                    ("off", "Off: a photo of an employee opens the door"))
CAMERA_CHOICES = ("0", "1", "2", "demo")
MIN_UNLOCK_MS = 100
UNLOCK_STEP_S = 0.5
CALIBRATE_MIN_WIDTH_PX = 480
SMALLEST_PERCENT_SHOWN = 1e-4
"""Below this rate (0.01 %) a percentage is only zeros: "1 in N" alone says it."""
LARGEST_ONE_IN_SHOWN = 0.1
"""From this rate (10 %) on, the percentage alone: "1 in N" would be "1 in 5" for 18 %."""
ERROR_STYLE = "border: 2px solid #b3261e;"
HISTOGRAM_MIN_PX = 250
HISTOGRAM_MAX_PX = 360
THRESHOLD_HELP = (
    "<b>Accept</b>: a face at or above this score is recognised. <b>Reject</b>: below this it "
    "is a stranger; in between, the door asks the person to step closer. Higher numbers are "
    "stricter: fewer strangers let in, more employees asked to try again.")
HISTOGRAM_RANGE = (0.0, 1.0)
"""Score range of the histogram (the confirming model's cosines: strangers mostly below 0.4,
the same person mostly above 0.5)."""

HISTOGRAM_DAYS = 90
"""The score plot reads this many days of the log (recent light and camera position)."""
SCORES_HELP = (
    f"Scores from the last {HISTOGRAM_DAYS} days of the access log. Green: faces the door let "
    "in, taken as the real person. "
    "Red: faces it did not recognise, taken as strangers. The log cannot know who was really "
    "at the door, so these are only estimates; a good accept threshold sits between the two "
    "humps, to the right of almost all of the red one.")
TARGET_CHOICES = ((1e-2, "1 stranger visit in 100"), (1e-3, "1 stranger visit in 1,000"),
                  (1e-4, "1 stranger visit in 10,000"), (1e-5, "1 stranger visit in 100,000"))
DEFAULT_TARGET_INDEX = 1
CALIBRATE_INTRO = ("Choose how rarely a stranger may be taken for one of the people "
                   "enrolled. Stricter targets make employees try again more often.")
CALIBRATE_INTRO_1TO1 = (
    "1:1 mode: the face is compared with the owner of the badge or number only, so the "
    "number of people enrolled does not matter. Choose how rarely someone giving another "
    "person's badge may be let in: stricter targets make people look again more often.")
SOURCE_CHOICES = (("lfw", "Reference measurements (LFW, shipped)"),
                  ("site", f"This site's access log (last {cal.SITE_DAYS} days)"))
RATES_HELP = (
    "Per stranger at the door: how often the face is taken for one of the people enrolled "
    "(it grows with the number of people). Per look of an enrolled person: how often the "
    "door does not recognise them at once and asks them to try again. Estimates from the "
    "score model measured on LFW (the door's camera and light can differ), for one look; "
    "the frames a door needs to agree only lower the false accepts.")
THRESHOLD_ORDER_HELP = "Lower \"Reject below\" or raise \"Accept at\"."

# 1:1 mode (a badge or an employee number first): the door compares the face with that one
# person only, against the 1:1 threshold; Accept and Reject are not used.
VERIFY_HELP = (
    "<b>1:1 threshold</b>: after a badge or an employee number, the face is compared with "
    "that person only and the door opens at or above this score. Higher is stricter: fewer "
    "people let in with someone else's badge, more people asked to look again.")
ONE_TO_N_NOTE = ("In 1:1 mode the door uses the 1:1 threshold above; Accept and Reject "
                 "apply to 1:N mode (the face alone).")
VERIFY_IN_USE = "the calibrated 1:1 default (not set on this page)"
RATES_HELP_1TO1 = (
    "Per attempt with another person's badge or number: how often the face is taken for "
    "that person (the face is compared with one person only, so this does not grow with "
    "the number of people enrolled). Per look of the person it belongs to: how often the "
    "door does not recognise them at once and asks them to look again. Estimates from the "
    "score model measured on LFW (the door's camera and light can differ), for one look; "
    "the frames a door needs to agree only lower the false accepts.")
VERIFY_TARGET_CHOICES = tuple(
    (rate, label.replace("stranger visit", "attempt") + " with another person's badge")
    for rate, label in TARGET_CHOICES)
"""The calibration targets of 1:1 mode: the same rates, per attempt with a wrong badge."""


def one_in(rate: float) -> str:
    """A rate as people read it: "1 in 4,300" (small) or "12 %" (large)."""
    if rate <= 0:
        return "never"
    if rate >= 0.01:
        return f"{rate * 100:.0f} %"
    return f"1 in {_round_count(1 / rate)}"


def _round_count(value: float) -> str:
    digits = max(len(str(int(value))) - 2, 0)  # two significant figures
    return f"{round(value, -digits):,.0f}"


def rate_phrase(rate: float, unit: str) -> str:
    """How often something happens per ``unit`` (a plural noun: "visits", "looks"), in
    words: the figure :func:`one_in` gives, in bold, and beside it, where that helps, the
    same figure the other way round, rounded alike (two significant figures):
    "on about <b>1 in 250</b> looks (0.4 %)", "on about <b>4 %</b> of looks (1 in 23)",
    "on about <b>18 %</b> of looks", "on about <b>1 in 83,000</b> visits".
    """
    if rate <= 0:
        return f"on none of the {unit}"
    figure = one_in(rate)
    if rate >= 0.01:  # one_in gives a percentage
        # "1 in 5" for 18 % would round too coarsely to agree with it.
        other = f" (1 in {_round_count(1 / rate)})" if rate < LARGEST_ONE_IN_SHOWN else ""
        return f"on about <b>{figure}</b> of {unit}{other}"
    percent = f" ({rate * 100:.2g} %)" if rate >= SMALLEST_PERCENT_SHOWN else ""
    return f"on about <b>{figure}</b> {unit}{percent}"


def rates_sentences(fpir: float, fnir: float) -> str:
    """The two expected rates as a security officer reads them (HTML, one line each)."""
    return (f"A stranger at the door is let in {rate_phrase(fpir, 'visits')}.<br>"
            f"An employee is not recognised {rate_phrase(fnir, 'looks')} and looks again.")


def verify_rates_sentences(far: float, frr: float) -> str:
    """The two 1:1 rates (FAR and FRR of one comparison) as a security officer reads them
    (HTML, one line each)."""
    return (f"Someone giving another person's badge or number is let in "
            f"{rate_phrase(far, 'attempts')}.<br>"
            f"The person it belongs to is not recognised {rate_phrase(frr, 'looks')} and "
            f"looks again.")


def verify_rates_in_terms(far: float, frr: float) -> str:
    """The 1:1 rates in the terms of the trade (for a tooltip)."""
    return (f"In the usual terms: FAR (false accept rate, per attempt) {far:.2g}; FRR "
            f"(false reject rate, per look) {frr:.2g}.")


def rates_in_terms(fpir: float, fnir: float) -> str:
    """The same rates in the terms of the trade (for a tooltip)."""
    return (f"In the usual terms: FPIR (false positive identification rate, per stranger "
            f"visit) {fpir:.2g}; FNIR (false negative identification rate, per look) "
            f"{fnir:.2g}.")


def _spin(minimum: int, maximum: int, suffix: str = "", special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum, maximum)
    if suffix:
        spin.setSuffix(suffix)
    if special:
        spin.setSpecialValueText(special)
    spin.setMinimumWidth(120)
    return spin


def _threshold_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(4)
    spin.setRange(-1.0, 1.0)
    spin.setSingleStep(0.001)
    spin.setMinimumWidth(100)
    return spin


class SettingsPage(QWidget):
    """Signals:
        settings_changed(Settings): the settings were saved and are in force.
        save_failed(object): saving was refused (the error; the page says why).
        histogram_ready(): the score distributions were drawn.
        door_tested(object): "Test the door" ended (a result or the error).
        rates_updated(): the expected error rates were shown again (a threshold moved or
            the number of people enrolled was counted again).
    """

    title = "Settings"

    settings_changed = Signal(object)
    save_failed = Signal(object)
    histogram_ready = Signal()
    door_tested = Signal(object)
    rates_updated = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._dirty = False
        self._loading = False
        self._defaults = default_thresholds(confirm_model_id())
        self.gallery_size: int | None = None
        """Active people, counted in the background (None until counted)."""
        self.expected: cal.ExpectedRates | None = None
        """The rates shown for the thresholds in the form (None when unknown): in 1:N mode
        its ``fpir`` and ``fnir`` at the accept threshold, in 1:1 mode its ``far`` and
        ``frr`` at the 1:1 threshold."""
        self.calibrate_dialog: CalibrateDialog | None = None
        self._score_model_problem = ""
        self._save_refused = False
        """Save was refused: every change checks the form again, so that the message and
        the red border go as soon as the value is fixed."""
        # The thresholds here are the confirming model's: it decides at the door (the
        # cascade); the search model's score model gives the cascade's first-stage misses.
        try:
            self.score_model: cal.ScoreModel | None = cal.load_score_model(confirm_model_id())
            self.search_model: cal.ScoreModel | None = cal.load_score_model()
        except TurnstileError as exc:
            self.score_model = self.search_model = None
            self._score_model_problem = error_text(exc)
            log.warning("no expected error rates: %s", exc)
        self._build()
        self.load()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 16, 16, 12)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        host = QWidget()
        columns = QHBoxLayout(host)
        columns.setContentsMargins(0, 0, 8, 0)
        columns.setSpacing(16)
        left = QVBoxLayout()
        right = QVBoxLayout()
        left.addWidget(self._camera_group())
        left.addWidget(self._recognition_group())
        left.addWidget(self._checks_group())
        left.addStretch(1)
        right.addWidget(self._door_group())
        right.addWidget(self._privacy_group())
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        scroll.setWidget(host)
        root.addWidget(scroll, 1)

        bottom = QHBoxLayout()
        self.message = MessageLabel()
        self.revert_button = QPushButton("Undo changes")
        self.revert_button.setToolTip("Show the saved settings again")
        self.revert_button.clicked.connect(self.load)
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.setShortcut("Ctrl+S")
        self.save_button.setToolTip("Save and apply (Ctrl+S)")
        self.save_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 18px; }")
        self.save_button.clicked.connect(self.save)
        fixed_width(self.revert_button, self.save_button)
        bottom.addWidget(self.message, 1)
        bottom.addStretch(0)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        root.addLayout(bottom)

    def _camera_group(self) -> QGroupBox:
        group = QGroupBox("Camera")
        form = _form(group)
        self.camera_combo = QComboBox()
        self.camera_combo.setEditable(True)
        self.camera_combo.addItems(CAMERA_CHOICES)
        self.camera_combo.setToolTip("A camera number (0 is the first camera), a video file, a "
                                     "stream address (rtsp://...) or demo")
        self.camera_combo.currentTextChanged.connect(self._changed)
        browse = QPushButton("Video file...")
        browse.clicked.connect(self._browse_video)
        row = QHBoxLayout()
        row.addWidget(self.camera_combo, 1)
        row.addWidget(browse)
        form.addRow("Camera:", row)
        hint = QLabel("0 is the first camera plugged in, 1 the second; or a video file, a "
                      "network camera's address (rtsp://...), or demo.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555; font-size: 90%;")
        form.addRow(hint)
        return group

    def _recognition_group(self) -> QGroupBox:
        group = QGroupBox("Recognition")
        layout = QVBoxLayout(group)
        form = _form()
        self.accept_default = QCheckBox(f"Calibrated default ({CONFIRM_ACCEPT_THRESHOLD:.4f})")
        self.accept_spin = _threshold_spin()
        self.reject_default = QCheckBox(f"Calibrated default ({CONFIRM_REJECT_THRESHOLD:.4f})")
        self.reject_spin = _threshold_spin()
        for check, spin in ((self.accept_default, self.accept_spin),
                            (self.reject_default, self.reject_spin)):
            check.toggled.connect(lambda on, spin=spin: spin.setEnabled(not on))
            check.toggled.connect(self._changed)
            check.toggled.connect(self._thresholds_moved)
            spin.valueChanged.connect(self._changed)
            spin.valueChanged.connect(self._thresholds_moved)
        # Shown in 1:1 mode only: the threshold that decides there, read-only (the settings
        # have no field for it), and why Accept and Reject stay on the form.
        self.verify_value = QLabel()
        self.verify_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.one_to_n_note = QLabel(ONE_TO_N_NOTE)
        self.one_to_n_note.setWordWrap(True)
        self.one_to_n_note.setStyleSheet("color: #555; font-size: 90%;")
        self.verify_form = form
        form.addRow("1:1 threshold:", self.verify_value)
        form.addRow(self.one_to_n_note)
        form.addRow("Accept at:", _row(self.accept_spin, self.accept_default))
        form.addRow("Reject below:", _row(self.reject_spin, self.reject_default))
        # Said as soon as the two cross, not only on Save.
        self.threshold_message = MessageLabel()
        form.addRow(self.threshold_message)
        self.frames_spin = _spin(1, 30, " frames")
        self.frames_spin.setToolTip("How many camera frames in a row must agree before the "
                                    "door opens (more is safer and a little slower)")
        self.frames_spin.valueChanged.connect(self._changed)
        self.cooldown_spin = QDoubleSpinBox()
        self.cooldown_spin.setRange(0.0, 600.0)
        self.cooldown_spin.setDecimals(1)
        self.cooldown_spin.setSingleStep(0.5)
        self.cooldown_spin.setSuffix(" s")
        self.cooldown_spin.setMinimumWidth(120)
        self.cooldown_spin.setToolTip("Seconds before the same person can open the door again "
                                      "(one passage gives one event)")
        self.cooldown_spin.valueChanged.connect(self._changed)
        form.addRow("Confirm over:", self.frames_spin)
        form.addRow("Cooldown:", self.cooldown_spin)
        layout.addLayout(form)
        self.rates_label = QLabel("Expected error rates: counting the people enrolled...")
        self.rates_label.setWordWrap(True)
        self.rates_label.setToolTip(RATES_HELP)
        self.rates_label.setStyleSheet("background: #f3f6fa; padding: 6px; border-radius: 4px;")
        self.calibrate_button = QPushButton("Calibrate...")
        self.calibrate_button.setToolTip("Propose accept and reject thresholds for a target "
                                         "false-accept rate with the people enrolled now")
        self.calibrate_button.clicked.connect(self.open_calibration)
        fixed_width(self.calibrate_button)
        rates_row = QHBoxLayout()
        rates_row.addWidget(self.rates_label, 1)
        rates_row.addWidget(self.calibrate_button)
        layout.addLayout(rates_row)
        self.threshold_help = QLabel(THRESHOLD_HELP)
        self.threshold_help.setWordWrap(True)
        self.threshold_help.setStyleSheet("color: #444;")
        layout.addWidget(self.threshold_help)
        self.histogram = ScoreHistogramChart()
        self.histogram.setMinimumHeight(HISTOGRAM_MIN_PX)
        self.histogram.setMaximumHeight(HISTOGRAM_MAX_PX)
        self.histogram.set_message("Reading the scores from the access log...")
        layout.addWidget(self.histogram, 1)
        caption = QLabel(SCORES_HELP)
        caption.setWordWrap(True)
        caption.setStyleSheet("color: #555; font-size: 90%;")
        layout.addWidget(caption)
        return group

    def _door_group(self) -> QGroupBox:
        group = QGroupBox("Door")
        layout = QVBoxLayout(group)
        form = _form()
        self.door_name_edit = QLineEdit()
        self.door_name_edit.setToolTip("The name of this door in the access log")
        self.door_name_edit.textChanged.connect(self._changed)
        # In seconds, as every other duration on the page (stored as unlock_ms).
        self.unlock_s_spin = QDoubleSpinBox()
        self.unlock_s_spin.setRange(MIN_UNLOCK_MS / 1000, MAX_UNLOCK_MS / 1000)
        self.unlock_s_spin.setDecimals(1)
        self.unlock_s_spin.setSingleStep(UNLOCK_STEP_S)
        self.unlock_s_spin.setSuffix(" s")
        self.unlock_s_spin.setMinimumWidth(120)
        self.unlock_s_spin.setToolTip("How long the door stays unlocked for one passage")
        self.unlock_s_spin.valueChanged.connect(self._changed)
        self.backend_combo = QComboBox()
        for key, label in BACKENDS:
            self.backend_combo.addItem(label, key)
        self.backend_combo.currentIndexChanged.connect(self._backend_changed)
        form.addRow("Door name:", self.door_name_edit)
        form.addRow("Unlock for:", self.unlock_s_spin)
        form.addRow("Lock hardware:", self.backend_combo)
        layout.addLayout(form)

        self.backend_stack = QStackedWidget()
        simulated = QLabel("Nothing to connect: the Door page shows the lock state on screen.")
        simulated.setWordWrap(True)
        self.backend_stack.addWidget(simulated)

        serial = QWidget()
        sform = _form(serial)
        sform.setContentsMargins(0, 0, 0, 0)
        self.serial_port_edit = QLineEdit()
        self.serial_port_edit.setPlaceholderText("/dev/ttyUSB0 or COM3")
        self.serial_baud_spin = _spin(300, 4_000_000)
        self.serial_open_edit = QLineEdit()
        self.serial_close_edit = QLineEdit()
        for widget in (self.serial_port_edit, self.serial_open_edit, self.serial_close_edit):
            widget.textChanged.connect(self._changed)
        self.serial_baud_spin.valueChanged.connect(self._changed)
        sform.addRow("Port:", self.serial_port_edit)
        sform.addRow("Speed (baud):", self.serial_baud_spin)
        sform.addRow("Open bytes (hex):", self.serial_open_edit)
        sform.addRow("Close bytes (hex):", self.serial_close_edit)
        self.backend_stack.addWidget(serial)

        http = QWidget()
        hform = _form(http)
        hform.setContentsMargins(0, 0, 0, 0)
        self.http_url_edit = QLineEdit()
        self.http_url_edit.setPlaceholderText("http://192.168.1.50/door")
        self.http_token_edit = QLineEdit()
        self.http_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.http_token_edit.setPlaceholderText("Optional")
        self.http_timeout_spin = QDoubleSpinBox()
        self.http_timeout_spin.setRange(0.1, 30.0)
        self.http_timeout_spin.setSuffix(" s")
        for widget in (self.http_url_edit, self.http_token_edit):
            widget.textChanged.connect(self._changed)
        self.http_timeout_spin.valueChanged.connect(self._changed)
        hform.addRow("Address:", self.http_url_edit)
        hform.addRow("Access token:", self.http_token_edit)
        hform.addRow("Time-out:", self.http_timeout_spin)
        self.backend_stack.addWidget(http)

        gpio = QWidget()
        gform = _form(gpio)
        gform.setContentsMargins(0, 0, 0, 0)
        self.gpio_pin_edit = QLineEdit()
        self.gpio_pin_edit.setPlaceholderText("17 or GPIO17")
        self.gpio_high_check = QCheckBox("The relay switches on a high level")
        self.gpio_pin_edit.textChanged.connect(self._changed)
        self.gpio_high_check.toggled.connect(self._changed)
        gform.addRow("Pin:", self.gpio_pin_edit)
        gform.addRow("", self.gpio_high_check)
        self.backend_stack.addWidget(gpio)
        layout.addWidget(self.backend_stack)

        test_row = QHBoxLayout()
        self.test_door_button = QPushButton("Test the door")
        self.test_door_button.setToolTip("Unlock the door briefly with the settings above "
                                         "(before saving them), then lock it again")
        self.test_door_button.clicked.connect(self.test_door)
        self.door_result = MessageLabel()
        fixed_width(self.test_door_button)
        test_row.addWidget(self.test_door_button)
        test_row.addWidget(self.door_result, 1)
        test_row.addStretch(0)
        layout.addLayout(test_row)
        return group

    def _checks_group(self) -> QGroupBox:
        group = QGroupBox("Access checks")
        form = _form(group)
        self.door_mode_combo = QComboBox()
        for key, label in DOOR_MODE_CHOICES:
            self.door_mode_combo.addItem(label, key)
        self.door_mode_combo.setToolTip(
            "1:1 is for large sites: a stranger is then compared with one person, not with "
            "everyone (see 'How accurate is it with N people enrolled?' in the README)")
        self.liveness_combo = QComboBox()
        for key, label in LIVENESS_CHOICES:
            self.liveness_combo.addItem(label, key)
        self.liveness_combo.setToolTip("Whether the door makes sure a live person, not a photo "
                                       "or a screen, is in front of the camera")
        self.spoof_attempts_spin = _spin(1, MAX_SPOOF_ATTEMPTS, " spoofs in a row")
        self.spoof_lockout_spin = _spin(1, int(MAX_SPOOF_LOCKOUT_MIN), " min")
        self.idle_logout_spin = _spin(1, MAX_IDLE_LOGOUT_MIN, " min")
        self.failed_logins_spin = _spin(1, MAX_FAILED_LOGINS_LIMIT, " failed logins")
        for combo in (self.door_mode_combo, self.liveness_combo):
            combo.currentIndexChanged.connect(self._changed)
        # The rates and the calibration follow the mode chosen, before it is saved.
        self.door_mode_combo.currentIndexChanged.connect(self._door_mode_changed)
        for spin in (self.spoof_attempts_spin, self.spoof_lockout_spin, self.idle_logout_spin,
                     self.failed_logins_spin):
            spin.valueChanged.connect(self._changed)
        form.addRow("Who is it:", self.door_mode_combo)
        form.addRow("Liveness:", self.liveness_combo)
        form.addRow("Lock an identity after:", self.spoof_attempts_spin)
        form.addRow("for:", self.spoof_lockout_spin)
        form.addRow("Log out when idle for:", self.idle_logout_spin)
        form.addRow("Lock an account after:", self.failed_logins_spin)
        return group

    def _privacy_group(self) -> QGroupBox:
        group = QGroupBox("Snapshots and retention")
        form = _form(group)
        self.snapshot_combo = QComboBox()
        for key, label in SNAPSHOT_CHOICES:
            self.snapshot_combo.addItem(label, key)
        self.snapshot_combo.setToolTip("When the door keeps a small camera picture with the "
                                       "event in the access log")
        self.snapshot_combo.currentIndexChanged.connect(self._changed)
        form.addRow("Keep a snapshot:", self.snapshot_combo)
        self.keep_snapshots_spin = _spin(0, MAX_RETENTION_DAYS, " days", "Keep forever")
        self.keep_events_spin = _spin(0, MAX_RETENTION_DAYS, " days", "Keep forever")
        self.keep_suspended_spin = _spin(0, MAX_RETENTION_DAYS, " days", "Keep forever")
        for spin in (self.keep_snapshots_spin, self.keep_events_spin, self.keep_suspended_spin):
            spin.valueChanged.connect(self._changed)
        form.addRow("Erase snapshots after:", self.keep_snapshots_spin)
        form.addRow("Delete events after:", self.keep_events_spin)
        form.addRow("Delete people suspended for:", self.keep_suspended_spin)
        note = QLabel("Retention periods are stored with the settings and applied by the "
                      "retention job; the events themselves stay until then.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555; font-size: 90%;")
        form.addRow(note)
        return group

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        """Show the settings in force (undoing unsaved changes)."""
        self._loading = True
        try:
            s = self.ctx.settings
            if s.thresholds_model != confirm_model_id():
                # Set for another face model (another score scale): not in force; saving
                # the form drops them.
                s = dataclasses.replace(s, accept_threshold=None, reject_threshold=None)
            self.camera_combo.setCurrentText(s.camera_source)
            self.accept_default.setChecked(s.accept_threshold is None)
            self.accept_spin.setValue(s.accept_threshold if s.accept_threshold is not None
                                      else self._defaults.accept)
            self.accept_spin.setEnabled(s.accept_threshold is not None)
            self.reject_default.setChecked(s.reject_threshold is None)
            self.reject_spin.setValue(s.reject_threshold if s.reject_threshold is not None
                                      else self._defaults.reject)
            self.reject_spin.setEnabled(s.reject_threshold is not None)
            self.frames_spin.setValue(s.frames_to_confirm)
            self.cooldown_spin.setValue(s.cooldown_s)
            self.door_name_edit.setText(s.door_name)
            self.unlock_s_spin.setValue(s.unlock_ms / 1000)
            self.snapshot_combo.setCurrentIndex(max(0, self.snapshot_combo.findData(
                s.snapshot_policy)))
            self.keep_snapshots_spin.setValue(s.retention_days_snapshots or 0)
            self.keep_events_spin.setValue(s.retention_days_events or 0)
            self.keep_suspended_spin.setValue(s.retention_days_suspended or 0)
            self.door_mode_combo.setCurrentIndex(max(0, self.door_mode_combo.findData(
                s.door_mode)))
            self.liveness_combo.setCurrentIndex(max(0, self.liveness_combo.findData(
                s.liveness_mode)))
            self.spoof_attempts_spin.setValue(s.spoof_max_attempts)
            self.spoof_lockout_spin.setValue(round(s.spoof_lockout_min))
            self.idle_logout_spin.setValue(s.idle_logout_min)
            self.failed_logins_spin.setValue(s.max_failed_logins)
            self.door_problem: str | None = None
            try:
                door = load_door_config()
            except DoorError as exc:
                self.door_problem = str(exc)
                door = DoorConfig()
            self._show_door_config(door)
        finally:
            self._loading = False
        self._dirty = False
        self._save_refused = False
        self._clear_errors()
        self.message.clear_message()
        if self.door_problem:
            self.message.warning(f"The saved door settings are not usable: {self.door_problem}")
        self._show_door_mode()
        self._thresholds_moved()

    def _show_door_config(self, door: DoorConfig) -> None:
        self.backend_combo.setCurrentIndex(max(0, self.backend_combo.findData(door.backend)))
        self._show_backend_page(self.backend_combo.currentIndex())
        self.serial_port_edit.setText(door.serial_port)
        self.serial_baud_spin.setValue(door.serial_baudrate)
        self.serial_open_edit.setText(door.serial_open_bytes)
        self.serial_close_edit.setText(door.serial_close_bytes)
        self.http_url_edit.setText(door.http_url)
        self.http_token_edit.setText(door.http_token)
        self.http_timeout_spin.setValue(door.http_timeout_s)
        self.gpio_pin_edit.setText(str(door.gpio_pin))
        self.gpio_high_check.setChecked(door.gpio_active_high)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._dirty:
            self.load()
        self.load_histogram()
        self.refresh_gallery_size()

    def load_histogram(self) -> None:
        """Read the score distributions from the log in the background."""
        db = self.ctx.db
        recent = EventFilter(start=datetime.now(UTC) - timedelta(days=HISTOGRAM_DAYS))
        run_task(lambda: score_histogram(db, recent, score_range=HISTOGRAM_RANGE,
                                         model_id=confirm_model_id()),
                 self._histogram_loaded,
                 self._histogram_failed)

    def _histogram_loaded(self, histogram: ScoreHistogram) -> None:
        self.histogram.set_histogram(histogram.edges, histogram.genuine, histogram.impostor)
        self._thresholds_moved()
        self.histogram_ready.emit()

    def _histogram_failed(self, exc: BaseException) -> None:
        self.histogram.set_message(f"The scores could not be read: {error_text(exc)}")
        self.histogram_ready.emit()

    # -- editing ---------------------------------------------------------------------------
    def _changed(self, *args: Any) -> None:
        if self._loading:
            return
        self._dirty = True
        if self._save_refused:
            self._check_again()

    def _check_again(self) -> None:
        """After a refused Save: show the problem that remains, or none."""
        if self.validate(focus=False) is not None:
            self._save_refused = False
            self.message.clear_message()

    @property
    def dirty(self) -> bool:
        """There are unsaved changes."""
        return self._dirty

    def form_thresholds(self) -> tuple[float, float]:
        """(accept, reject) as the form sets them (a ticked default: the calibrated one)."""
        accept = self._defaults.accept if self.accept_default.isChecked() \
            else self.accept_spin.value()
        reject = self._defaults.reject if self.reject_default.isChecked() \
            else self.reject_spin.value()
        return accept, reject

    def threshold_problem(self) -> str:
        """Why the form's accept and reject thresholds cannot work together ("" when they
        can): a score cannot be both at or above "Accept at" and below "Reject below"."""
        accept, reject = self.form_thresholds()
        if round(reject, 4) <= round(accept, 4):
            return ""
        return (f"The reject threshold ({reject:.4f}) must not be above the accept threshold "
                f"({accept:.4f}). {THRESHOLD_ORDER_HELP}")

    def _thresholds_moved(self, *args: Any) -> None:
        accept, reject = self.form_thresholds()
        self.histogram.set_thresholds(accept, reject)
        self._show_threshold_problem()
        self._show_rates()

    def _show_threshold_problem(self) -> None:
        problem = self.threshold_problem()
        at_fault = [spin for check, spin in ((self.accept_default, self.accept_spin),
                                             (self.reject_default, self.reject_spin))
                    if not check.isChecked()] or [self.accept_spin]
        for spin in (self.accept_spin, self.reject_spin):
            spin.setProperty("thresholdError", bool(problem) and spin in at_fault)
            _restyle(spin)
        if problem:
            self.threshold_message.error(problem)
        else:
            self.threshold_message.clear_message()

    # -- expected error rates --------------------------------------------------------------
    def refresh_gallery_size(self) -> None:
        """Count the people enrolled (and read the stored calibrated thresholds) in the
        background, then show the rates again. Call after people are added or removed."""
        db, model_id = self.ctx.db, confirm_model_id()

        def read() -> tuple[int, Thresholds]:
            return cal.gallery_size(db), load_thresholds(db, model_id)

        run_task(read, self._gallery_counted, self._gallery_count_failed)

    def _gallery_counted(self, result: tuple[int, Thresholds]) -> None:
        self.gallery_size, self._defaults = result
        self.accept_default.setText(f"Calibrated default ({self._defaults.accept:.4f})")
        self.reject_default.setText(f"Calibrated default ({self._defaults.reject:.4f})")
        if self.accept_default.isChecked():
            self.accept_spin.blockSignals(True)
            self.accept_spin.setValue(self._defaults.accept)
            self.accept_spin.blockSignals(False)
        if self.reject_default.isChecked():
            self.reject_spin.blockSignals(True)
            self.reject_spin.setValue(self._defaults.reject)
            self.reject_spin.blockSignals(False)
        self._show_door_mode()
        self._thresholds_moved()

    def _gallery_count_failed(self, exc: BaseException) -> None:
        self.gallery_size = None
        self.expected = None
        self.rates_label.setText(f"Expected error rates unavailable: the people enrolled "
                                 f"could not be counted ({error_text(exc)}).")
        self.rates_updated.emit()

    # -- the door mode ---------------------------------------------------------------------
    def one_to_one(self) -> bool:
        """The form sets 1:1 mode (a badge or an employee number, then the face)."""
        return self.door_mode_combo.currentData() == "verify"

    @property
    def verify_threshold(self) -> float:
        """The 1:1 threshold the door uses: the calibrated default of the model that decides
        (or the value stored for it in the database, as for Accept and Reject)."""
        return self._defaults.verify

    def _door_mode_changed(self, *args: Any) -> None:
        self._show_door_mode()
        self._show_rates()

    def _show_door_mode(self) -> None:
        one_to_one = self.one_to_one()
        self.verify_value.setText(f"<b>{self.verify_threshold:.4f}</b>, {VERIFY_IN_USE}")
        self.verify_form.setRowVisible(self.verify_value, one_to_one)
        self.verify_form.setRowVisible(self.one_to_n_note, one_to_one)
        self.threshold_help.setText(VERIFY_HELP if one_to_one else THRESHOLD_HELP)
        self.calibrate_button.setToolTip(
            "Work out the 1:1 threshold for a target false-accept rate per attempt with "
            "another person's badge" if one_to_one else
            "Propose accept and reject thresholds for a target false-accept rate with the "
            "people enrolled now")
        if self.calibrate_dialog is not None:
            self.calibrate_dialog.set_one_to_one(one_to_one, self.verify_threshold)

    def _show_rates(self) -> None:
        if self.score_model is None:
            self.expected = None
            self.rates_label.setText(f"Expected error rates unavailable: "
                                     f"{self._score_model_problem}")
            self.calibrate_button.setEnabled(False)
            self.rates_updated.emit()
            return
        if self.one_to_one():
            self._show_verify_rates()
            return
        if self.threshold_problem():
            self.expected = None
            self.rates_label.setText(
                f"<span style='color: {BAD.name()}'><b>No expected rates</b> while the "
                f"reject threshold is above the accept threshold (see above).</span>")
            self.rates_label.setToolTip(RATES_HELP)
            self.rates_updated.emit()
            return
        if self.gallery_size is None:
            return  # the count is on its way
        accept, _ = self.form_thresholds()
        n = self.gallery_size
        rates = cal.expected_rates(accept, max(n, 1), self.score_model, self._defaults.min_margin,
                                   self.search_model)
        self.expected = rates
        people = f"{n:,} {'person' if n == 1 else 'people'} enrolled"
        if n == 0:
            people = "nobody enrolled yet (figures for the first person)"
        self.rates_label.setText(f"<b>At accept {accept:.4f}, with {people}:</b><br>"
                                 + rates_sentences(rates.fpir, rates.fnir))
        self.rates_label.setToolTip(f"{RATES_HELP}\n\n{rates_in_terms(rates.fpir, rates.fnir)}")
        self.rates_updated.emit()

    def _show_verify_rates(self) -> None:
        """1:1 mode: the rates of one comparison at the 1:1 threshold (the number of people
        enrolled does not enter, nor do Accept and Reject); the score model is loaded."""
        assert self.score_model is not None
        verify = self.verify_threshold
        rates = cal.expected_rates(verify, 1, self.score_model, min_margin=0.0)
        self.expected = rates
        self.rates_label.setText(f"<b>At the 1:1 threshold {verify:.4f}, with any number of "
                                 f"people enrolled:</b><br>"
                                 + verify_rates_sentences(rates.far, rates.frr))
        self.rates_label.setToolTip(
            f"{RATES_HELP_1TO1}\n\n{verify_rates_in_terms(rates.far, rates.frr)}")
        self.rates_updated.emit()

    def open_calibration(self) -> CalibrateDialog:
        """Open the calibration dialog (not modal: the form stays visible behind it)."""
        if self.calibrate_dialog is None:
            self.calibrate_dialog = CalibrateDialog(self.ctx, self.score_model, self,
                                                    search_model=self.search_model)
            self.calibrate_dialog.accepted.connect(self._use_proposal)
        self.calibrate_dialog.set_gallery_size(self.gallery_size)
        self.calibrate_dialog.set_one_to_one(self.one_to_one(), self.verify_threshold)
        self.calibrate_dialog.show()
        self.calibrate_dialog.raise_()
        return self.calibrate_dialog

    def _use_proposal(self) -> None:
        dialog = self.calibrate_dialog
        if dialog is None or dialog.proposal is None or dialog.one_to_one:
            return  # in 1:1 mode there is nothing to put into the form
        self.apply_proposal(dialog.proposal)

    def apply_proposal(self, proposal: cal.Proposal) -> None:
        """Put proposed thresholds into the form (saved only when the user saves)."""
        self.accept_default.setChecked(False)
        self.reject_default.setChecked(False)
        self.accept_spin.setValue(proposal.accept)
        self.reject_spin.setValue(proposal.reject)
        self.message.info("Thresholds proposed by the calibration are in the form: press Save "
                          "to use them at this station.")

    def _backend_changed(self, index: int) -> None:
        self._show_backend_page(index)
        self._changed()

    def _show_backend_page(self, index: int) -> None:
        # Only the shown page counts for the height: the on-screen door needs one line,
        # not the four of the serial relay.
        for i in range(self.backend_stack.count()):
            page = self.backend_stack.widget(i)
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.backend_stack.setCurrentIndex(index)
        self.backend_stack.adjustSize()

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Use a video file as the camera", "",
            "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)")
        if path:
            self.camera_combo.setCurrentText(path)

    # -- validation and saving -------------------------------------------------------------
    def form_settings(self) -> Settings:
        """The settings the form describes.

        Raises:
            SettingsError: a value is invalid (``.key`` names it).
        """
        def days(spin: QSpinBox) -> int | None:
            return spin.value() or None

        return dataclasses.replace(
            self.ctx.settings,
            camera_source=self.camera_combo.currentText().strip(),
            accept_threshold=None if self.accept_default.isChecked()
            else round(self.accept_spin.value(), 4),
            reject_threshold=None if self.reject_default.isChecked()
            else round(self.reject_spin.value(), 4),
            thresholds_model=None if self.accept_default.isChecked()
            and self.reject_default.isChecked() else confirm_model_id(),
            frames_to_confirm=self.frames_spin.value(),
            cooldown_s=float(self.cooldown_spin.value()),
            door_name=self.door_name_edit.text().strip(),
            unlock_ms=self.form_unlock_ms(),
            snapshot_policy=self.snapshot_combo.currentData(),
            retention_days_snapshots=days(self.keep_snapshots_spin),
            retention_days_events=days(self.keep_events_spin),
            retention_days_suspended=days(self.keep_suspended_spin),
            door_mode=self.door_mode_combo.currentData(),
            liveness_mode=self.liveness_combo.currentData(),
            spoof_max_attempts=self.spoof_attempts_spin.value(),
            spoof_lockout_min=float(self.spoof_lockout_spin.value()),
            idle_logout_min=self.idle_logout_spin.value(),
            max_failed_logins=self.failed_logins_spin.value(),
        )

    def form_unlock_ms(self) -> int:
        """The unlock time the form sets, in milliseconds."""
        saved_ms = self.ctx.settings.unlock_ms
        shown_s = self.unlock_s_spin.value()
        # The box shows tenths of a second: an untouched 1234 ms stays 1234 ms.
        if abs(saved_ms / 1000 - shown_s) <= 0.05 + 1e-9:
            return saved_ms
        return round(shown_s * 1000)

    def form_door_config(self) -> DoorConfig:
        """The door configuration the form describes.

        Raises:
            DoorError: a value is invalid for the chosen hardware.
        """
        pin_text = self.gpio_pin_edit.text().strip()
        pin: int | str = int(pin_text) if pin_text.isdigit() else pin_text
        return DoorConfig(
            backend=self.backend_combo.currentData(),
            serial_port=self.serial_port_edit.text().strip(),
            serial_baudrate=self.serial_baud_spin.value(),
            serial_open_bytes=self.serial_open_edit.text().strip(),
            serial_close_bytes=self.serial_close_edit.text().strip(),
            http_url=self.http_url_edit.text().strip(),
            http_token=self.http_token_edit.text(),
            http_timeout_s=float(self.http_timeout_spin.value()),
            gpio_pin=pin,
            gpio_active_high=self.gpio_high_check.isChecked(),
        )

    def _widget_for(self, key: str | None) -> QWidget | None:
        return {
            "camera_source": self.camera_combo, "door_name": self.door_name_edit,
            "accept_threshold": self.accept_spin, "reject_threshold": self.reject_spin,
            "frames_to_confirm": self.frames_spin, "cooldown_s": self.cooldown_spin,
            "unlock_ms": self.unlock_s_spin, "snapshot_policy": self.snapshot_combo,
            "retention_days_snapshots": self.keep_snapshots_spin,
            "retention_days_events": self.keep_events_spin,
            "retention_days_suspended": self.keep_suspended_spin,
            "door_mode": self.door_mode_combo, "liveness_mode": self.liveness_combo,
            "spoof_max_attempts": self.spoof_attempts_spin,
            "spoof_lockout_min": self.spoof_lockout_spin,
            "idle_logout_min": self.idle_logout_spin,
            "max_failed_logins": self.failed_logins_spin,
        }.get(key or "")

    def _door_widget_for(self, message: str) -> QWidget:
        lowered = message.lower()
        for needle, widget in (("serial_port", self.serial_port_edit),
                               ("open sequence", self.serial_open_edit),
                               ("close sequence", self.serial_close_edit),
                               ("http_url", self.http_url_edit),
                               ("baudrate", self.serial_baud_spin),
                               ("timeout", self.http_timeout_spin)):
            if needle in lowered:
                return widget
        return self.backend_combo

    def _clear_errors(self) -> None:
        for widget in self.findChildren(QWidget):
            if widget.property("settingsError"):
                widget.setProperty("settingsError", False)
                _restyle(widget)

    def _flag(self, widget: QWidget | None, text: str, focus: bool = True) -> None:
        self.message.error(text)
        if widget is not None:
            widget.setProperty("settingsError", True)
            _restyle(widget)
            if focus:
                widget.setFocus()

    def validate(self, focus: bool = True) -> tuple[Settings, DoorConfig] | None:
        """Check the form; on a problem, say what is wrong next to the field (moving the
        focus there when ``focus``) and return None."""
        self._clear_errors()
        try:
            settings = self.form_settings()
        except SettingsError as exc:
            self._flag(self._widget_for(exc.key), _plain_settings_error(exc), focus)
            return None
        problem = self.threshold_problem()
        if problem:
            self._flag(self.reject_spin if settings.reject_threshold is not None
                       else self.accept_spin, problem, focus)
            return None
        try:
            door = self.form_door_config()
        except DoorError as exc:
            self._flag(self._door_widget_for(str(exc)), str(exc), focus)
            return None
        return settings, door

    def save(self) -> bool:
        """Validate, write both files, apply. Returns whether it was saved."""
        checked = self.validate()
        if checked is None:
            self._save_refused = True
            self.save_failed.emit(SettingsError(self.message.text()))
            return False
        self._save_refused = False
        settings, door = checked
        try:
            previous_door: DoorConfig | None = load_door_config()
        except DoorError:
            previous_door = None
        try:
            save_settings(settings)
            save_door_config(door)
        except SettingsError as exc:
            self.message.error(str(exc))
            self.save_failed.emit(exc)
            return False
        try:
            self.ctx.apply_settings(settings)
        except (ValueError, TurnstileError) as exc:
            self.message.warning(f"Saved, but the thresholds could not be applied: "
                                 f"{error_text(exc)}")
        if door != previous_door:  # which fields, never their values (a token is secret)
            changed = [f.name for f in dataclasses.fields(door) if previous_door is None
                       or getattr(door, f.name) != getattr(previous_door, f.name)]
            self.ctx.audit(SETTINGS_CHANGE, "door hardware", "changed: " + ", ".join(changed))
        self._dirty = False
        self.message.success("Saved. The new settings are in force.")
        self.settings_changed.emit(settings)
        return True

    # -- the door test ---------------------------------------------------------------------
    def test_door(self) -> bool:
        """Unlock and relock the door with the form's settings, in the background."""
        try:
            door = self.form_door_config()
        except DoorError as exc:
            self.door_result.error(str(exc))
            return False
        name = self.door_name_edit.text().strip() or self.ctx.settings.door_name
        unlock_ms = self.form_unlock_ms()
        self.test_door_button.setEnabled(False)
        self.door_result.info("Unlocking the door...")
        run_task(lambda: try_door(door, name, unlock_ms), self._door_tested,
                 self._door_test_failed)
        return True

    def _door_tested(self, result: DoorTestResult) -> None:
        self.test_door_button.setEnabled(True)
        self.door_result.success(f"The {result.description} unlocked for "
                                 f"{result.open_ms / 1000:g} s and locked again.")
        self.door_tested.emit(result)

    def _door_test_failed(self, exc: BaseException) -> None:
        self.test_door_button.setEnabled(True)
        self.door_result.error(f"The door test failed: {error_text(exc)}")
        self.door_tested.emit(exc)


class CalibrateDialog(QDialog):
    """Proposes accept/reject thresholds for a chosen false-accept rate per stranger visit.

    "Propose" works in the background (the site's log may be long); "Use these thresholds"
    closes the dialog accepted with :attr:`proposal` set.

    In 1:1 mode (:meth:`set_one_to_one`) it works out the 1:1 threshold for the chosen
    false-accept rate per attempt with another person's badge instead, and says what that
    threshold would give beside the one in use; the 1:1 threshold is not a setting, so there
    is nothing to put into the form ("Use these thresholds" is hidden).

    Signals:
        proposal_ready(object): a :class:`~turnstile.services.calibration.Proposal`, or the
            error that stopped it.
    """

    proposal_ready = Signal(object)

    def __init__(self, ctx: AppContext, score_model: cal.ScoreModel | None,
                 parent: QWidget | None = None, *,
                 search_model: cal.ScoreModel | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate the recognition thresholds")
        self.setMinimumWidth(CALIBRATE_MIN_WIDTH_PX)
        self.ctx = ctx
        self.score_model = score_model
        self.search_model = search_model
        self.gallery_size: int | None = None
        self.proposal: cal.Proposal | None = None
        self.verify_rates: cal.ExpectedRates | None = None
        """1:1 rates at the proposal's 1:1 threshold (far, frr)."""
        self.one_to_one = False
        self.verify_in_use = CONFIRM_THRESHOLDS.verify
        layout = QVBoxLayout(self)
        self.intro = QLabel(CALIBRATE_INTRO)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        form = _form()
        self.form = form
        self.target_combo = QComboBox()
        for rate, label in TARGET_CHOICES:
            self.target_combo.addItem(label, rate)
        self.target_combo.setCurrentIndex(DEFAULT_TARGET_INDEX)
        self.source_combo = QComboBox()
        for key, label in SOURCE_CHOICES:
            self.source_combo.addItem(label, key)
        self.people_label = QLabel()
        form.addRow("At most:", self.target_combo)
        form.addRow("Based on:", self.source_combo)
        form.addRow("People enrolled:", self.people_label)
        layout.addLayout(form)
        self.propose_button = QPushButton("Propose")
        self.propose_button.clicked.connect(self.propose)
        fixed_width(self.propose_button)
        # The proposal is several lines: under the button, the dialog's full width.
        self.result_label = MessageLabel()
        self.result_label.setWordWrap(True)
        layout.addWidget(self.propose_button)
        layout.addWidget(self.result_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = buttons.addButton("Use these thresholds",
                                            QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setEnabled(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.target_combo.currentIndexChanged.connect(self._forget)
        self.source_combo.currentIndexChanged.connect(self._forget)
        if score_model is None:
            self.propose_button.setEnabled(False)
            self.result_label.error("No score model for this face model: calibration is "
                                    "not possible.")

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:  # e.g. the proposal appeared
            keep_height_for_text(self)
        return handled

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        keep_height_for_text(self)

    def set_gallery_size(self, size: int | None) -> None:
        self.gallery_size = size
        self.people_label.setText("counting..." if size is None else f"{size:,}")

    def set_one_to_one(self, on: bool, verify_in_use: float) -> None:
        """Calibrate for 1:1 mode (``on``: the 1:1 threshold, ``verify_in_use`` being the
        one the door uses) or for 1:N (accept and reject). A proposal made for the other
        mode is forgotten."""
        in_use_moved = round(verify_in_use, 4) != round(self.verify_in_use, 4)
        self.verify_in_use = verify_in_use
        if on == self.one_to_one and not (on and in_use_moved):
            return
        self.one_to_one = on
        self._forget()
        self.intro.setText(CALIBRATE_INTRO_1TO1 if on else CALIBRATE_INTRO)
        for index, (_, label) in enumerate(VERIFY_TARGET_CHOICES if on else TARGET_CHOICES):
            self.target_combo.setItemText(index, label)
        self.form.setRowVisible(self.people_label, not on)  # 1:1 does not depend on it
        self.use_button.setVisible(not on)
        self.cancel_button.setText("Close" if on else "Cancel")

    def _forget(self, *args: Any) -> None:
        self.proposal = None
        self.use_button.setEnabled(False)
        self.result_label.clear_message()
        self.result_label.setToolTip("")

    def propose(self) -> None:
        """Work out the thresholds for the chosen target in the background."""
        model = self.score_model
        if model is None:
            return
        target = float(self.target_combo.currentData())
        source = str(self.source_combo.currentData())
        db, model_id, known = self.ctx.db, confirm_model_id(), self.gallery_size
        search = self.search_model

        def work() -> tuple[cal.Proposal, cal.ExpectedRates]:
            size = known if known is not None else cal.gallery_size(db)
            used = model
            if source == "site":
                evidence = cal.site_evidence(db, model_id)
                used, _, _ = cal.site_score_model(model, evidence, size)
            proposal = cal.propose_thresholds(target, size, used, search_model=search)
            # Both modes' answers: the mode may change while this runs.
            return proposal, cal.expected_rates(proposal.verify_threshold, 1, used,
                                                min_margin=0.0)

        self._forget()
        self.propose_button.setEnabled(False)
        self.result_label.info("Working it out...")
        run_task(work, self._proposed, self._failed)

    def _proposed(self, result: tuple[cal.Proposal, cal.ExpectedRates]) -> None:
        proposal, self.verify_rates = result
        self.propose_button.setEnabled(True)
        self.proposal = proposal
        if self.one_to_one:
            self._show_verify_proposal(proposal, self.verify_rates)
            self.proposal_ready.emit(proposal)
            return
        self.use_button.setEnabled(True)
        r = proposal.at_size
        self.result_label.success(
            f"<b>Accept at {proposal.accept:.4f}, reject below {proposal.reject:.4f}.</b><br>"
            f"{rates_sentences(r.fpir, r.fnir)}<br>"
            f"With ten times the people, a stranger would be let in "
            f"{rate_phrase(proposal.at_10x.fpir, 'visits')}.")
        self.result_label.setToolTip(rates_in_terms(r.fpir, r.fnir))
        self.proposal_ready.emit(proposal)

    def _show_verify_proposal(self, proposal: cal.Proposal, rates: cal.ExpectedRates) -> None:
        proposed, in_use = proposal.verify_threshold, self.verify_in_use
        if round(proposed, 4) == round(in_use, 4):
            in_use_text = "This is the 1:1 threshold the door uses (the calibrated 1:1 default)."
        else:
            in_use_text = (f"The door uses {in_use:.4f}, the calibrated 1:1 default: this page "
                           f"cannot change it.")
        self.result_label.success(
            f"<b>1:1 threshold for this target: {proposed:.4f}.</b><br>"
            f"{verify_rates_sentences(rates.far, rates.frr)}<br>{in_use_text} "
            f"To calibrate Accept and Reject (1:N mode, the face alone), choose that mode "
            f"first.")
        self.result_label.setToolTip(verify_rates_in_terms(rates.far, rates.frr))

    def _failed(self, exc: BaseException) -> None:
        self.propose_button.setEnabled(True)
        self.result_label.error(error_text(exc))
        self.proposal_ready.emit(exc)


def _form(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    # Text fields grow; numbers and lists keep their natural width.
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
    return form


def _restyle(widget: QWidget) -> None:
    """A red border while Save refused the field or the thresholds cross (either one)."""
    wrong = widget.property("settingsError") or widget.property("thresholdError")
    widget.setStyleSheet(ERROR_STYLE if wrong else "")


def _row(*widgets: QWidget) -> QWidget:
    host = QWidget()
    layout = QHBoxLayout(host)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return host


_LABELS = {
    "camera_source": "Camera", "door_name": "Door name", "accept_threshold": "Accept at",
    "reject_threshold": "Reject below", "frames_to_confirm": "Confirm over",
    "cooldown_s": "Cooldown", "unlock_ms": "Unlock for", "snapshot_policy": "Keep a snapshot",
}


def _plain_settings_error(exc: SettingsError) -> str:
    """The settings error with the field's label instead of its key."""
    text = str(exc)
    if exc.key and exc.key in _LABELS:
        text = text.replace(f"Setting {exc.key!r}", f"\"{_LABELS[exc.key]}\"")
    return text

