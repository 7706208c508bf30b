"""The Door page: the live camera with face boxes, a big banner telling the person at the
door what happens, and a status bar with the camera frame rate, the processing time per
frame and the door state.

The page owns the door station's parts and wires them together; it does no work itself:

* a :class:`~turnstile.gui.vision_worker.VisionWorker` on its own QThread (camera, models,
  decisions);
* a :class:`~turnstile.door.DoorCommander` (the one thread that talks to the door);
* an :class:`~turnstile.services.access_log.EventWriter` (the access log, off the video path);
* a timer that reloads the gallery snapshot on the thread pool every
  :data:`GALLERY_RELOAD_MS` (so people enrolled, suspended or expired at the desk take effect)
  and hands it to the worker through a queued signal;
* a timer that asks the database every :data:`~turnstile.services.change_watch.WATCH_INTERVAL_S`
  (on the thread pool) whether the staff list changed anywhere (another station, a desk on
  another computer, the command line), and reloads it when it did.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFont, QImage, QKeyEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from turnstile.app import AppContext
from turnstile.capture import DEMO_SOURCE, CameraState, CameraStatus
from turnstile.config import Settings
from turnstile.door import DoorCommander, DoorController, LockState, create_door
from turnstile.door.liveness_gate import DoorLiveness, build_door_liveness
from turnstile.door.station import (
    CLAIM_TIMEOUT_S,
    STARTING_MESSAGE,
    FaceView,
    FrameReport,
    StationDecision,
    load_face_crop,
)
from turnstile.gui.tasks import run_task
from turnstile.gui.video_view import VideoView
from turnstile.gui.vision_worker import VisionWorker, WorkerStats, emit
from turnstile.matching.door_policy import (
    ASK_FOR_BADGE,
    FACE_NOT_CLAIMED,
    DoorPolicy,
    DoorState,
)
from turnstile.services.access_log import EventWriter, error_record
from turnstile.services.audit import SPOOF_LOCKOUT, SYSTEM_ACTOR
from turnstile.services.change_watch import WATCH_INTERVAL_S, ChangeWatcher
from turnstile.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

GALLERY_RELOAD_MS = 30_000
"""How often the staff list is read again (enrollments and suspensions at the desk, validity
periods starting and ending)."""
BANNER_MIN_HOLD_MS = 3000
"""A decision stays on the banner at least this long (longer when the door stays unlocked
longer)."""
WELCOME_WAIT_MS = 1000
"""How long a frame that shows a grant may show the welcome before its decision arrives (the
decision follows it from the same frame, within milliseconds). Without a decision (the same
person back within the cooldown, whom the door does not open for again) the welcome goes
once this is over and the door is locked: it never outlasts the open door."""
REPORT_FRESH_MS = 1000
"""When a decision leaves the banner, the last frame's state is shown at once if it is at
most this old (otherwise the idle prompt, until the next frame)."""
STOP_WAIT_MS = 10_000
"""How long closing the page waits for the vision worker to stop."""
FACE_CROP_CACHE = 64
VIDEO_FILE_FILTER = ("Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v *.mpg *.mpeg *.wmv);;"
                     "All files (*)")

BANNER_STYLES: dict[str, tuple[str, str]] = {
    # kind: (background, text colour)
    "idle": ("#37474f", "#eceff1"),
    "checking": ("#1f5f8b", "#ffffff"),
    "guidance": ("#b26a00", "#ffffff"),
    "granted": ("#1b7f3b", "#ffffff"),
    "denied": ("#b71c1c", "#ffffff"),
    "unknown": ("#b71c1c", "#ffffff"),
    "error": ("#b71c1c", "#ffffff"),
}
LOOK_AT_CAMERA = "Please look at the camera"
CLAIM_PENDING_TEXT = "Your face is being checked against your badge."
SPOOF_TEXT = "We could not confirm a live person at the door."
"""Shown (without any name) when the liveness check refused the face."""
ASK_AT_RECEPTION = "Please ask at reception."
FACE_LABEL_MAX_CHARS = 28
"""Longer face box labels are cut (with an ellipsis): the label is drawn over the picture,
from the left edge of the box, and must stay on it."""

SOURCE_FROM_SETTINGS = "settings"
SOURCE_FROM_COMMAND_LINE = "command line"
SOURCE_PICKED = "picked"
SOURCE_ORIGIN_TEXT = {SOURCE_FROM_SETTINGS: "", SOURCE_FROM_COMMAND_LINE: "from the command line",
                      SOURCE_PICKED: "picked on this page"}
"""Why the door uses the source it uses, as the status bar says it (nothing when it is the
settings' camera)."""

DOOR_TEXT = {LockState.CLOSED: "LOCKED", LockState.OPEN: "OPEN", LockState.FAULT: "DOOR FAULT"}


def _fitted(face: FaceView) -> FaceView:
    """The face as drawn: a label longer than :data:`FACE_LABEL_MAX_CHARS` is cut (it is drawn
    over the picture from the box's left edge and must stay on it)."""
    if len(face.label) <= FACE_LABEL_MAX_CHARS:
        return face
    return replace(face, label=face.label[:FACE_LABEL_MAX_CHARS - 1].rstrip() + "…")


def _retry_text(retry_in_s: float | None) -> str:
    """When the camera is tried again, for the banner."""
    if retry_in_s is None:
        return ""
    if retry_in_s < 1.0:
        return " Trying again now."
    return f" Next try in {math.ceil(retry_in_s)} s."


class DoorPage(QWidget):
    """The door station page.

    Args:
        ctx: the application context.
        parent: the parent widget.
        source: the camera (``"demo"``, an index, a file, a URL); None uses the settings'
            ``camera_source``.
        door_backend: the door hardware (default: from ``door.toml``, see
            :func:`turnstile.door.create_door`).
        pipeline_factory: builds the worker's vision pipeline (default: the door pipeline).
        realtime: play files and the demo at their frame rate.
        reload_interval_ms: see :data:`GALLERY_RELOAD_MS`.
    """

    title = "Door"

    snapshot_loaded = Signal(object)
    source_requested = Signal(str)
    reconfigure_requested = Signal(object, object, bool)
    """New door rules for the worker: policy, liveness factory, 1:1 mode."""
    claim_requested = Signal(str)
    """1:1 mode: an employee number was entered (to the worker)."""
    alert_raised = Signal(str)
    """An event an administrator must see (an identity locked out after repeated spoofs)."""
    _door_state = Signal(object, str)
    _log_problem = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *,
                 source: str | None = None, door_backend: DoorController | None = None,
                 pipeline_factory: Callable[[], FacePipeline] | None = None,
                 realtime: bool = True, reload_interval_ms: int = GALLERY_RELOAD_MS) -> None:
        super().__init__(parent)
        self.ctx = ctx
        settings = ctx.settings
        self.source = source if source is not None else settings.camera_source
        self.source_origin = SOURCE_FROM_SETTINGS if source is None \
            else SOURCE_FROM_COMMAND_LINE
        """Where :attr:`source` came from: one of the keys of :data:`SOURCE_ORIGIN_TEXT`."""
        self.is_demo = self.source.strip().lower() == DEMO_SOURCE
        self._shut_down = False
        self._generation = 0          # of the camera source, as the worker counts it
        self._last_decision_seq = -1
        self._hold_until = 0.0
        self._banner_key: tuple[int, int | None] | None = None
        self._last_report: FrameReport | None = None
        self._last_report_at = 0.0    # time.monotonic() when it arrived
        self._claim_until = 0.0       # 1:1 mode: a number given waits for the face until then
        self._door_open = False
        self._welcome_passage = 0     # the passage a frame last showed a grant for, and since
        self._welcome_since = 0.0
        self._face_crops: OrderedDict[int, QPixmap | None] = OrderedDict()
        self._snapshot_generation = 0
        self._reload_running = False
        self._key_problem_logged = False
        self._model: tuple[str, int] | None = None
        self._camera_status = CameraStatus(CameraState.STARTING)
        self.banner_kind = "idle"
        self.stats: WorkerStats | None = None
        """The worker's latest figures (frame rate, processing time)."""
        self.decisions: list[StationDecision] = []
        """Decisions shown on this page (newest last; the tests read them)."""
        self._build_ui()

        # The database is opened here, at start-up, on this thread: it may back up and
        # migrate, which must not race with the background threads below.
        self._db_problem: str | None = None
        try:
            ctx.db  # noqa: B018 (opens it)
        except Exception as exc:  # noqa: BLE001 (the door runs, closed, and says why)
            log.error("the database cannot be opened: %s", exc)
            self._db_problem = str(exc)

        # The door: closed at start, on any error, at exit.
        problem = None
        if door_backend is None:
            choice = create_door(door_name=settings.door_name, unlock_ms=settings.unlock_ms)
            door_backend, problem = choice.controller, choice.problem
        self.door = DoorCommander(door_backend, settings.unlock_ms,
                                  on_state=lambda s, m: emit(self._door_state, s, m))
        self._door_state.connect(self._on_door_state)
        self._door_problem = problem

        self.events = EventWriter(lambda: ctx.db, settings.door_name, settings.snapshot_policy,
                                  on_error=lambda m: emit(self._log_problem, m))
        self._log_problem.connect(self._on_log_problem)

        policy, liveness_factory = self._door_rules(settings)
        self.one_to_one = settings.door_mode == "verify"
        worker_kwargs: dict[str, object] = {"door": self.door, "events": self.events,
                                            "realtime": realtime,
                                            "liveness_factory": liveness_factory,
                                            "one_to_one": self.one_to_one}
        if pipeline_factory is not None:
            worker_kwargs["pipeline_factory"] = pipeline_factory
        self.worker = VisionWorker(self.source, policy, **worker_kwargs)  # type: ignore[arg-type]
        self.vision_thread = QThread(self)
        self.vision_thread.setObjectName("vision")
        self.worker.moveToThread(self.vision_thread)
        self.vision_thread.started.connect(self.worker.start)
        self.vision_thread.finished.connect(self.worker.deleteLater)
        self.worker.frame_ready.connect(self._on_frame)
        self.worker.faces_found.connect(self._on_report)
        self.worker.decision_made.connect(self._on_decision)
        self.worker.error_occurred.connect(self._on_error)
        self.worker.camera_state_changed.connect(self._on_camera_status)
        self.worker.stats_updated.connect(self._on_stats)
        self.worker.pipeline_ready.connect(self._on_pipeline_ready)
        self.snapshot_loaded.connect(self.worker.set_snapshot)
        self.source_requested.connect(self.worker.set_source)
        self.claim_requested.connect(self.worker.claim)
        self.reconfigure_requested.connect(self.worker.reconfigure)
        self.badge_bar.setVisible(self.one_to_one)
        # The badge box gets the focus when the page is shown (showEvent); the keys typed
        # elsewhere in the window reach it through this filter.
        self._badge_keys = _BadgeKeyRouter(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._badge_keys)

        self._reload_timer = QTimer(self)
        self._reload_timer.setInterval(reload_interval_ms)
        self._reload_timer.timeout.connect(self.reload_gallery)
        self._watcher = ChangeWatcher(lambda: ctx.db)
        self._watch_running = False
        self._reload_pending = False
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(round(WATCH_INTERVAL_S * 1000))
        self._watch_timer.timeout.connect(self._poll_changes)
        self._banner_timer = QTimer(self)
        self._banner_timer.setSingleShot(True)
        self._banner_timer.timeout.connect(self._banner_expired)
        self._hold_ms = max(BANNER_MIN_HOLD_MS, settings.unlock_ms)

        self.status_door.setText(f"Door: {DOOR_TEXT[LockState.CLOSED].lower()} · "
                                 f"{self.door.description}")
        if problem:
            self._show_notice(f"The door hardware cannot be used: {problem} The on-screen "
                              f"door is used instead; the real door stays locked.",
                              offer_file=False)
        if self._db_problem:
            self._show_notice(f"The database cannot be opened: {self._db_problem} Nobody can "
                              f"be recognised; the door stays locked.", offer_file=False)

        self.door.start()
        self.events.start()
        self.vision_thread.start()
        self._reload_timer.start()
        self._watch_timer.start()

    # -- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 0)
        layout.setSpacing(8)

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner.setMinimumHeight(120)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(16, 10, 16, 10)
        banner_layout.setSpacing(16)
        self.banner_photo = QLabel()
        self.banner_photo.setFixedSize(QSize(100, 100))
        self.banner_photo.setScaledContents(True)
        self.banner_photo.hide()
        texts = QVBoxLayout()
        self.banner_title = QLabel()
        self.banner_title.setObjectName("bannerTitle")
        title_font = QFont(self.font())
        title_font.setPointSizeF(max(20.0, title_font.pointSizeF() * 2.4))
        title_font.setBold(True)
        self.banner_title.setFont(title_font)
        # Prompts and names can be long ("Please turn your head slightly to your left, then
        # back."): they wrap rather than lose their end at 1024 px.
        self.banner_title.setWordWrap(True)
        self.banner_detail = QLabel()
        self.banner_detail.setObjectName("bannerDetail")
        detail_font = QFont(self.font())
        detail_font.setPointSizeF(max(13.0, detail_font.pointSizeF() * 1.4))
        self.banner_detail.setFont(detail_font)
        self.banner_detail.setWordWrap(True)
        texts.addWidget(self.banner_title)
        texts.addWidget(self.banner_detail)
        self.door_pill = QLabel(DOOR_TEXT[LockState.CLOSED])
        self.door_pill.setObjectName("doorPill")
        self.door_pill.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.door_pill.setMinimumWidth(130)
        banner_layout.addWidget(self.banner_photo)
        banner_layout.addLayout(texts, 1)
        banner_layout.addWidget(self.door_pill)
        layout.addWidget(self.banner)

        self.notice = QFrame()
        self.notice.setObjectName("cameraNotice")
        self.notice.setStyleSheet("#cameraNotice { background: #fff3e0; border: 1px solid "
                                  "#ffb74d; border-radius: 6px; } QLabel { color: #4e342e; }")
        notice_layout = QHBoxLayout(self.notice)
        self.notice_text = QLabel()
        self.notice_text.setWordWrap(True)
        self.notice_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_file_button = QPushButton("Open a video file…")
        self.open_file_button.clicked.connect(self.pick_video_file)
        self.retry_button = QPushButton("Try the camera again")
        self.retry_button.clicked.connect(self.retry_camera)
        notice_layout.addWidget(self.notice_text, 1)
        notice_layout.addWidget(self.retry_button)
        notice_layout.addWidget(self.open_file_button)
        self.notice.hide()
        layout.addWidget(self.notice)

        self.demo_bar = QFrame()
        self.demo_bar.setObjectName("demoBar")
        demo_layout = QHBoxLayout(self.demo_bar)
        demo_layout.setContentsMargins(0, 0, 0, 0)
        self.demo_text = QLabel("Demo: the astronaut is a stranger here until she is enrolled. "
                                "(The liveness check is off: the demo is a moving photo.)")
        self.demo_text.setWordWrap(True)
        self.demo_enrol_button = QPushButton("Enroll the demo person")
        self.demo_enrol_button.clicked.connect(self.enrol_demo_person)
        demo_layout.addWidget(self.demo_text, 1)
        demo_layout.addWidget(self.demo_enrol_button)
        self.demo_bar.setVisible(False)
        layout.addWidget(self.demo_bar)

        # 1:1 mode: the employee number, typed or typed by a USB badge reader (+ Enter).
        self.badge_bar = QFrame()
        self.badge_bar.setObjectName("badgeBar")
        badge_layout = QHBoxLayout(self.badge_bar)
        badge_layout.setContentsMargins(0, 0, 0, 0)
        badge_label = QLabel("Employee number or badge:")
        self.badge_input = QLineEdit()
        self.badge_input.setPlaceholderText("Scan your badge or type your number, then Enter")
        self.badge_input.setMaxLength(64)
        badge_label.setBuddy(self.badge_input)
        self.badge_input.returnPressed.connect(self._badge_entered)
        badge_layout.addWidget(badge_label)
        badge_layout.addWidget(self.badge_input, 1)
        self.badge_bar.setVisible(False)
        layout.addWidget(self.badge_bar)

        self.video = VideoView()
        layout.addWidget(self.video, 1)

        self.status_bar = QStatusBar()
        self.status_bar.setSizeGripEnabled(False)
        self.status_camera = QLabel("Camera: starting")
        self.status_processing = QLabel("Processing: –")
        self.status_door = QLabel("Door: locked")
        self.status_log = QLabel()
        self.status_log.hide()
        for label in (self.status_camera, self.status_processing, self.status_door,
                      self.status_log):
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            label.setContentsMargins(10, 0, 10, 0)
            self.status_bar.addPermanentWidget(label)
        layout.addWidget(self.status_bar)
        self._set_banner("checking", "Starting…", "Loading the face recognition models.")

    def _set_banner(self, kind: str, title: str, detail: str = "",
                    photo: QPixmap | None = None) -> None:
        # Called for every frame: only what changed is touched (a style sheet change makes
        # Qt restyle and re-lay out the whole banner).
        if kind != self.banner_kind or not self.banner.styleSheet():
            background, colour = BANNER_STYLES.get(kind, BANNER_STYLES["idle"])
            self.banner.setStyleSheet(
                f"#banner {{ background: {background}; border-radius: 8px; }} "
                f"#banner QLabel {{ color: {colour}; }} "
                f"#doorPill {{ border: 2px solid {colour}; border-radius: 6px; padding: 6px; "
                f"font-weight: bold; font-size: 15pt; }}")
        self.banner_kind = kind
        if self.banner_title.text() != title:
            self.banner_title.setText(title)
        if self.banner_detail.text() != detail:
            self.banner_detail.setText(detail)
        if self.banner_detail.isVisibleTo(self) != bool(detail):
            self.banner_detail.setVisible(bool(detail))
        if photo is not None and not photo.isNull():
            self.banner_photo.setPixmap(photo)
            self.banner_photo.show()
        elif not self.banner_photo.isHidden():
            self.banner_photo.clear()
            self.banner_photo.hide()

    def _show_idle(self) -> None:
        """The prompt for whoever comes next: the camera; in 1:1 mode the badge first (or,
        once a number was given, the camera)."""
        if not self.one_to_one:
            self._set_banner("idle", LOOK_AT_CAMERA)
        elif time.monotonic() < self._claim_until:
            self._set_banner("checking", LOOK_AT_CAMERA, CLAIM_PENDING_TEXT)
        else:
            self._set_banner("idle", ASK_FOR_BADGE)

    def _show_current(self) -> None:
        """What the camera sees now (the last frame's state, when recent), else the idle
        prompt: when a decision leaves the banner and when the door locks again."""
        report = self._last_report
        if report is not None and \
                time.monotonic() - self._last_report_at < REPORT_FRESH_MS / 1000:
            self._show_state(report)
        else:
            self._show_idle()

    # -- keyboard: 1:1 mode's badge box -------------------------------------------------------
    def takes_badge_keys(self) -> bool:
        """Whether the keys typed in this page's window belong in the badge box: 1:1 mode,
        the page shown."""
        return self.one_to_one and not self._shut_down and self.badge_input.isVisible() \
            and self.badge_input.isEnabled()

    def focus_badge(self) -> None:
        """1:1 mode, page shown: give the badge box the keyboard focus (a USB badge reader
        types into whatever has it). Done when the page is shown, after each decision, when
        1:1 mode is switched on, and by the main window when a dialog over the door closes."""
        if self.takes_badge_keys():
            self.badge_input.setFocus(Qt.FocusReason.OtherFocusReason)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.focus_badge()

    def _show_notice(self, text: str, *, offer_file: bool) -> None:
        self.notice_text.setText(text)
        self.open_file_button.setVisible(offer_file)
        self.retry_button.setVisible(offer_file)
        self.notice.show()

    # -- actions -----------------------------------------------------------------------------
    @Slot()
    def _door_rules(self, settings: Settings
                    ) -> tuple[DoorPolicy, Callable[[], DoorLiveness | None]]:
        """The decision policy and the liveness check's factory for these settings."""
        policy = DoorPolicy(settings.frames_to_confirm, cooldown_s=settings.cooldown_s)
        # The demo video is a moving photo, which the liveness check rightly refuses.
        self.liveness_mode = "off" if self.is_demo else settings.liveness_mode
        mode = self.liveness_mode
        attempts, lockout_min = settings.spoof_max_attempts, settings.spoof_lockout_min
        self._spoof_rules = (attempts, lockout_min)

        def liveness_factory() -> DoorLiveness | None:  # on the vision thread
            return build_door_liveness(mode, attempts, lockout_min)

        return policy, liveness_factory

    def apply_settings(self, settings: Settings) -> None:
        """Apply saved settings to the running door: decision rules, liveness, 1:1 mode,
        snapshot policy and unlock time (the camera has :meth:`set_source`)."""
        policy, liveness_factory = self._door_rules(settings)
        self.one_to_one = settings.door_mode == "verify"
        self.badge_bar.setVisible(self.one_to_one)
        self._claim_until = 0.0  # the worker drops the number given under the old rules
        self.focus_badge()
        self.events.snapshot_policy = settings.snapshot_policy
        self.door.unlock_ms = settings.unlock_ms
        self._hold_ms = max(BANNER_MIN_HOLD_MS, settings.unlock_ms)
        self.reconfigure_requested.emit(policy, liveness_factory, self.one_to_one)

    def _record_alert(self, decision: StationDecision) -> None:
        """Put the alert in the audit trail, where every admin station sees it (by
        employee id, as the trail never holds names)."""
        ctx, door_name = self.ctx, self.ctx.settings.door_name
        detail = (f"door '{door_name}': identity locked out after repeated spoofs; "
                  f"{decision.reason}")

        def job() -> None:
            ctx.audit_trail.record(SYSTEM_ACTOR, SPOOF_LOCKOUT,
                                   f"employee id {decision.employee_id}", detail, False)

        run_task(job, lambda _: None,
                 lambda exc: log.error("the spoof alert could not be audited: %s", exc))

    def _badge_entered(self) -> None:
        number = self.badge_input.text().strip()
        self.badge_input.clear()
        if not number:
            return
        self._claim_until = time.monotonic() + CLAIM_TIMEOUT_S
        self._set_banner("checking", LOOK_AT_CAMERA, CLAIM_PENDING_TEXT)
        self.claim_requested.emit(number)

    def pick_video_file(self) -> None:
        """Ask for a video file and play it instead of the camera."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video file", "", VIDEO_FILE_FILTER)
        if path:
            self.set_source(path, origin=SOURCE_PICKED)

    def set_source(self, source: str, *, origin: str = SOURCE_FROM_SETTINGS) -> None:
        """Use another camera, file or stream (``origin``: where it comes from, a key of
        :data:`SOURCE_ORIGIN_TEXT`, shown in the status bar)."""
        self.source = source
        self.source_origin = origin
        self._last_report = None
        self.is_demo = source.strip().lower() == DEMO_SOURCE
        self.demo_bar.setVisible(self.is_demo)
        self.notice.hide()
        self.video.clear("Opening the video…")
        emit(self.source_requested, source)

    @Slot()
    def retry_camera(self) -> None:
        """Try to open the camera at once instead of waiting for the next attempt."""
        self.set_source(self.source, origin=self.source_origin)

    @Slot()
    def reload_gallery(self) -> None:
        """Read the staff list again on the thread pool and hand it to the worker."""
        if self._model is None or self._reload_running or self._shut_down:
            return
        self._reload_running = True
        self._snapshot_generation += 1
        generation = self._snapshot_generation
        model_id, dim = self._model
        ctx = self.ctx

        def job():  # on the thread pool
            return ctx.door_snapshot(model_id, dim, generation)

        run_task(job, self._on_snapshot, self._on_snapshot_error)

    @Slot()
    def _poll_changes(self) -> None:
        """Ask on the thread pool whether the staff list changed; reload it when it did."""
        if self._watch_running or self._shut_down or self._db_problem:
            return
        self._watch_running = True
        run_task(self._watcher.check, self._on_changes_polled, self._on_poll_failed)

    def _on_changes_polled(self, changed: bool) -> None:
        self._watch_running = False
        if changed and self._alive():
            if self._reload_running:
                self._reload_pending = True  # read again once the load in progress is in
            else:
                self.reload_gallery()

    def _on_poll_failed(self, exc: BaseException) -> None:
        self._watch_running = False
        log.debug("staff list change check failed: %s", exc)  # the reload reports outages

    def _alive(self) -> bool:
        """Whether the page still runs (background jobs may finish after it closed)."""
        return not self._shut_down and shiboken6.isValid(self)

    def _on_snapshot(self, snapshot) -> None:
        self._reload_running = False
        if not self._alive() or snapshot.generation != self._snapshot_generation:
            return
        emit(self.snapshot_loaded, snapshot)
        if self.banner_kind == "checking" and self.banner_title.text() == "Starting…":
            self._show_idle()
        if self._reload_pending:
            self._reload_pending = False
            self.reload_gallery()

    def _on_snapshot_error(self, exc: BaseException) -> None:
        self._reload_running = False
        self._watcher.reset()  # the next check reloads
        log.error("the staff list could not be loaded: %s", exc)
        from turnstile.storage.crypto import ProtectionError

        if isinstance(exc, ProtectionError) and not self._key_problem_logged:
            # Once, not every retry: the access log says why nobody got in.
            self._key_problem_logged = True
            self.events.submit(error_record(str(exc)))
        if self._alive():
            self._show_notice(f"The staff list could not be loaded ({exc}). Nobody can be "
                              f"recognised until it loads; the door stays locked. Trying "
                              f"again every {GALLERY_RELOAD_MS // 1000} s.", offer_file=False)

    @Slot()
    def enrol_demo_person(self) -> None:
        """Enroll the demo face, so the demo also shows the door opening."""
        from turnstile.capture.demo import (
            DEMO_EMPLOYEE_NUMBER,
            DEMO_PERSON_NAME,
            demo_face_path,
        )
        from turnstile.gui.dialogs import show_error
        from turnstile.storage.errors import DuplicateEmployeeNumber

        path = demo_face_path()
        if path is None:
            self.demo_text.setText("The demo photo is missing from this installation.")
            return
        ctx = self.ctx
        self.demo_enrol_button.setEnabled(False)

        def job():
            try:
                ctx.enrollment.enroll(str(path), employee_number=DEMO_EMPLOYEE_NUMBER,
                                      name=DEMO_PERSON_NAME, consent=True, source="import",
                                      source_name="demo", force=True)
            except DuplicateEmployeeNumber:
                pass  # enrolled before: fine

        def done(_):
            if not self._alive():
                return
            self.demo_text.setText(f"Demo: {DEMO_PERSON_NAME} is enrolled; the door opens for "
                                   f"her. Delete her on the People page when done.")
            self.reload_gallery()

        def failed(exc: BaseException) -> None:
            if not self._alive():
                log.error("enrolling the demo person failed: %s", exc)
                return
            self.demo_enrol_button.setEnabled(True)
            show_error(self, "Demo", exc)

        run_task(job, done, failed)

    def shutdown(self) -> None:
        """Stop the worker (it releases the camera), lock the door, write the last events."""
        if self._shut_down:
            return
        self._shut_down = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._badge_keys)
        self._reload_timer.stop()
        self._watch_timer.stop()
        self._banner_timer.stop()
        self.worker.request_stop()
        if self.vision_thread.isRunning() and not self.vision_thread.wait(STOP_WAIT_MS):
            log.error("the vision worker did not stop within %d ms", STOP_WAIT_MS)
            self.vision_thread.quit()
            self.vision_thread.wait(1000)
        self.door.shutdown()
        self.events.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        """A page closed on its own (not through the main window) stops the station too."""
        self.shutdown()
        super().closeEvent(event)

    # -- from the worker ---------------------------------------------------------------------
    @Slot(QImage, int)
    def _on_frame(self, image: QImage, seq: int) -> None:
        self.worker.frame_taken()
        self.video.set_frame(image, seq)

    @Slot(object)
    def _on_report(self, report: FrameReport) -> None:
        if report.source_generation < self._generation:
            return  # from the previous camera
        self._generation = report.source_generation
        faces = tuple(_fitted(face) for face in report.faces)
        self.video.set_report(report if faces == report.faces else replace(report, faces=faces))
        self._last_report, self._last_report_at = report, time.monotonic()
        if time.monotonic() < self._hold_until or self._camera_problem_shown():
            return
        self._show_state(report)

    def _show_state(self, report: FrameReport) -> None:
        state = report.state
        if state is DoorState.IDLE:
            self._show_idle()
        elif state is DoorState.CHECKING:
            if report.message == STARTING_MESSAGE:
                self._set_banner("checking", "Starting…", report.message)
            elif report.message:  # the liveness check's request ("Please blink twice.")
                self._set_banner("checking", report.message,
                                 "Making sure a live person is at the door.")
            else:
                self._set_banner("checking", "One moment…", "Hold still, please.")
        elif state is DoorState.GUIDANCE:
            self._set_banner("guidance", report.message or LOOK_AT_CAMERA)
        elif state is DoorState.GRANTED:
            # The policy reports the grant for as long as the person stays in view; the
            # welcome goes once the door has locked again.
            if not self._welcome_due(report.passage):
                self._show_idle()
            elif self.banner_kind != "granted":
                self._set_banner("granted", f"Welcome, {report.name}" if report.name
                                 else "Welcome", "", self._crop_for(report.employee_id))
        elif state is DoorState.DENIED:
            self._set_banner("denied", "Access denied",
                             self._denial(report.name, report.message,
                                          report.locked_out_min)[0])
        elif state is DoorState.UNKNOWN:
            self._set_banner("unknown", "Not recognised", "Please ask at reception.")
        elif state is DoorState.SPOOF:
            self._set_banner("denied", "Access denied",
                             f"{SPOOF_TEXT} {report.message}")

    def _welcome_due(self, passage: int) -> bool:
        """Whether a frame that shows a grant for ``passage`` may show the welcome: while
        the door is open, and for :data:`WELCOME_WAIT_MS` from the first such frame (its
        decision, which holds the welcome on the banner, follows within milliseconds)."""
        now = time.monotonic()
        if passage != self._welcome_passage:
            self._welcome_passage, self._welcome_since = passage, now
        return self._door_open or now - self._welcome_since < WELCOME_WAIT_MS / 1000

    @Slot(object)
    def _on_decision(self, decision: StationDecision) -> None:
        if decision.source_generation < self._generation:
            return
        if decision.seq and decision.seq < self._last_decision_seq:
            return  # an older frame's answer arriving late
        self._last_decision_seq = max(self._last_decision_seq, decision.seq)
        self.decisions.append(decision)
        del self.decisions[:-100]
        if decision.alert:
            # The station's alert names the person; the door screen (where the alert shows)
            # may be looked at by the attacker, so the admin is sent to the access log.
            attempts, lockout_min = self._spoof_rules
            spoofs = f"{attempts} spoofs in a row" if attempts > 1 else "a spoof"
            self.alert_raised.emit(
                f"An enrolled person's identity was presented by {spoofs} at this door and "
                f"is locked out here for {lockout_min:g} min. The Access log has the spoof "
                f"events.")
            self._record_alert(decision)
        self.focus_badge()  # ready for the next badge, whatever was clicked meanwhile
        if decision.verdict == "error":
            return  # the camera status handler shows camera problems
        self._claim_until = 0.0  # a number given is good for one decision
        self._hold_until = time.monotonic() + self._hold_ms / 1000
        self._banner_timer.start(self._hold_ms)
        self._banner_key = (decision.seq, decision.employee_id)
        if decision.verdict == "granted":
            # Held from now on; frames of this passage after the hold do not bring it back.
            self._welcome_passage, self._welcome_since = decision.passage, time.monotonic()
            self._set_banner("granted", f"Welcome, {decision.name}", "Please come in.",
                             self._crop_for(decision.employee_id, decision.seq))
        elif decision.verdict == "denied":
            detail, named = self._denial(decision.name, decision.reason,
                                         decision.locked_out_min)
            self._set_banner("denied", "Access denied", detail,
                             self._crop_for(decision.employee_id, decision.seq) if named
                             else None)
        elif decision.verdict == "spoof":  # never the name: the person may be an attacker
            self._set_banner("denied", "Access denied", f"{SPOOF_TEXT} {decision.reason}")
        elif decision.passage == 0:  # 1:1 mode: the number given matched nobody
            self._set_banner("unknown", "Unknown number",
                             f"{decision.reason.capitalize()}. Please ask at reception.")
        else:
            self._set_banner("unknown", "Not recognised", "Please ask at reception.")

    @property
    def names_shown(self) -> bool:
        """Whether a refused person (suspended, expired) may be named on the door screen.

        Only when the door does not check liveness. With the check on, the name waits for it
        (README, *Liveness*), and the door refuses a person who may not pass without waiting
        for it: the face may be a photo of them. A lockout for spoofs and a face that does
        not match the employee number typed are never named.
        """
        return self.liveness_mode == "off"

    def _denial(self, name: str, reason: str, locked_min: int | None) -> tuple[str, bool]:
        """The banner's text for a known face that may not pass, and whether it names them
        (the access log keeps who it was). ``locked_min``: the identity is locked out after
        repeated spoofs, for that many more minutes."""
        if locked_min is not None:
            return (f"Locked for {locked_min} min after repeated failed liveness checks. "
                    f"{ASK_AT_RECEPTION}", False)
        reason = reason or "not allowed"
        if reason == FACE_NOT_CLAIMED:  # not the person whose number was given
            return f"{reason[0].upper()}{reason[1:]}. {ASK_AT_RECEPTION}", False
        if name and self.names_shown:
            return f"{name}: {reason}. {ASK_AT_RECEPTION}", True
        return f"Not allowed ({reason}). {ASK_AT_RECEPTION}", False

    def _banner_expired(self) -> None:
        self._hold_until = 0.0
        if not self._camera_problem_shown():
            self._show_current()

    def _crop_for(self, employee_id: int | None, seq: int | None = None) -> QPixmap | None:
        """The enrolled photo if already loaded; otherwise load it and show it when it
        arrives, unless the banner has moved on to someone else."""
        if employee_id is None:
            return None
        if employee_id in self._face_crops:
            self._face_crops.move_to_end(employee_id)
            return self._face_crops[employee_id]
        ctx = self.ctx

        def job():
            return load_face_crop(ctx.db, employee_id)

        def loaded(data: bytes | None) -> None:
            if not self._alive():
                return
            pixmap = None
            if data:
                pixmap = QPixmap()
                if not pixmap.loadFromData(data):
                    pixmap = None
            self._face_crops[employee_id] = pixmap
            while len(self._face_crops) > FACE_CROP_CACHE:
                self._face_crops.popitem(last=False)
            key = self._banner_key
            still_shown = key is not None and key[1] == employee_id and (
                seq is None or key[0] == seq)
            if pixmap is not None and still_shown and self.banner_kind in ("granted",
                                                                          "denied"):
                self.banner_photo.setPixmap(pixmap)
                self.banner_photo.show()

        run_task(job, loaded, lambda exc: log.warning("enrolled photo not loaded: %s", exc))
        return None

    @Slot(object)
    def _on_camera_status(self, status: CameraStatus) -> None:
        self._camera_status = status
        if status.state is CameraState.LIVE:
            self.notice.hide()
            self._show_camera()
            self.demo_bar.setVisible(self.is_demo)
            if self.banner_kind == "error":
                self._show_idle()
        elif status.state is CameraState.LOST and status.attempts == 1 \
                and self._source_is_file():
            # The file is opened again at once and plays from the start.
            self._set_banner("error", "The video ended – the door is locked",
                             "It starts again from the beginning.")
            self.video.clear("The video ended.\nStarting it again…")
            self._show_camera("ended, starting again")
        elif status.state is CameraState.LOST:
            self._set_banner("error", "Camera lost – the door is locked",
                             f"Reconnecting (attempt {status.attempts})."
                             f"{_retry_text(status.retry_in_s)}")
            self.status_camera.setText("Camera: lost, reconnecting")
            if status.attempts >= 3:  # the notice says why from now on
                self.video.clear("Camera lost.\nReconnecting…")
                self._show_notice(f"{status.message} Still trying to reconnect.",
                                  offer_file=True)
            else:
                self.video.clear(f"Camera lost: {status.message}\nReconnecting…")
        elif status.state is CameraState.UNAVAILABLE:
            # Why, and what to do, is said once: in the notice, beside its buttons.
            self._set_banner("error", "No camera – the door is locked")
            self.video.clear("No camera picture.")
            self.status_camera.setText("Camera: none")
            self._show_notice(f"{status.message} You can play a video file instead.",
                              offer_file=True)

    def _source_is_file(self) -> bool:
        """Whether the door plays a video file (not a camera, a stream or the demo)."""
        from turnstile.capture.opencv_source import is_stream_url, parse_source

        source = parse_source(self.source)
        return not self.is_demo and isinstance(source, str) and not is_stream_url(source)

    def _show_camera(self, detail: str = "") -> None:
        """The status bar's camera: which source, where it came from when it is not the
        settings' camera, and ``detail`` (the frame rate)."""
        origin = SOURCE_ORIGIN_TEXT.get(self.source_origin, "")
        text = f"Camera: {self.worker.source_description()}"
        if origin:
            text += f" ({origin})"
        self.status_camera.setText(f"{text} · {detail}" if detail else text)
        self.status_camera.setToolTip(
            f"The camera in the settings ({self.ctx.settings.camera_source}) is used once "
            f"another one is saved there." if origin else "")

    def _camera_problem_shown(self) -> bool:
        return self._camera_status.state in (CameraState.LOST, CameraState.UNAVAILABLE)

    @Slot(object)
    def _on_stats(self, stats: WorkerStats) -> None:
        self.stats = stats
        self._show_camera(f"{stats.fps:.1f} fps")
        self.status_processing.setText(f"Processing: {stats.process_ms:.0f} ms/frame")
        if self.status_log.isVisible() and self.events.pending == 0:
            self.status_log.hide()  # the access log caught up

    @Slot(str, int)
    def _on_pipeline_ready(self, model_id: str, dim: int) -> None:
        self._model = (model_id, dim)
        if self._db_problem is None:
            self.reload_gallery()
        if self.is_demo:
            self.demo_bar.show()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._show_notice(message, offer_file=False)

    @Slot(object, str)
    def _on_door_state(self, state: LockState, message: str) -> None:
        self.door_pill.setText(DOOR_TEXT[state])
        self._door_open = state is LockState.OPEN
        if not self._door_open and self.banner_kind == "granted" \
                and time.monotonic() >= self._hold_until and not self._camera_problem_shown():
            self._show_current()  # locked again: the welcome goes
        text = f"Door: {DOOR_TEXT[state].lower()} · {self.door.description}"
        if state is LockState.FAULT and message:
            text += f" – {message}"
            self._show_notice(f"The door did not respond: {message} It is told to lock "
                              f"until it does.", offer_file=False)
        elif state is LockState.CLOSED and self.notice.isVisible() and \
                self.notice_text.text().startswith("The door did not respond"):
            self.notice.hide()
        self.status_door.setText(text)

    @Slot(str)
    def _on_log_problem(self, message: str) -> None:
        self.status_log.setText(f"Access log: {message}")
        self.status_log.setToolTip(message)
        self.status_log.show()


def _is_typing(event: QKeyEvent) -> bool:
    """Whether a key press types (characters, Enter, Backspace, arrows) rather than moves
    the focus (Tab) or is a shortcut (Ctrl+1 .. Ctrl+7, Ctrl+Shift+L). Ctrl+Alt types: it is
    AltGr on Windows, which some keyboard layouts need for "@" or "-"."""
    if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
        return False
    modifiers = event.modifiers()
    ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
    alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
    return not modifiers & Qt.KeyboardModifier.MetaModifier and (alt or not ctrl)


class _BadgeKeyRouter(QObject):
    """1:1 mode: the keys typed anywhere in the door's window go to the badge box.

    A USB badge reader types blind into whatever has the keyboard focus. After a click in the
    side menu that is the menu, whose type-ahead search turns "E-500" into the Enroll page
    (and a login dialog that takes the rest as a user name); a focused button takes a space
    as a click. Installed on the application (key presses go to the focused widget, not to
    the page); dialogs are other windows and keep their keys.
    """

    def __init__(self, page: DoorPage) -> None:
        super().__init__(page)
        self.page = page
        self._forwarding = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() != QEvent.Type.KeyPress or self._forwarding:
            return False
        page, badge = self.page, self.page.badge_input
        # With the box focused every key starts there (those it ignores then go up to its
        # parents, and must not come back).
        if not isinstance(watched, QWidget) or watched is badge or badge.hasFocus() \
                or not page.takes_badge_keys() or watched.window() is not page.window():
            return False
        if not isinstance(event, QKeyEvent) or not _is_typing(event):
            return False
        badge.setFocus(Qt.FocusReason.OtherFocusReason)
        self._forwarding = True
        try:
            QApplication.sendEvent(badge, QKeyEvent(
                event.type(), event.key(), event.modifiers(), event.text(),
                event.isAutoRepeat(), event.count()))
        finally:
            self._forwarding = False
        return True
