"""The Door page, offscreen, with the real worker over real video files made from real face
photos, a recording door and a real SQLite file: what the person at the door and the
facilities manager see."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "door"))

from door_support import (  # noqa: E402
    Portrait,
    RecordingDoor,
    empty_frames,
    passage_frames,
    write_video,
)

from turnstile.app import AppContext  # noqa: E402
from turnstile.capture import CameraState  # noqa: E402
from turnstile.config import Settings  # noqa: E402
from turnstile.door import LockState  # noqa: E402
from turnstile.gui.door_page import DoorPage  # noqa: E402
from turnstile.storage import repositories as repo  # noqa: E402

WAIT_MS = 20_000


@pytest.fixture
def ctx(tmp_path, photo_pipeline):
    # These tests are about recognition and the door; a moving photo stands for the person,
    # which the liveness check would rightly refuse (its own tests: test_door_liveness.py).
    settings = Settings(snapshot_policy="all", unlock_ms=300, cooldown_s=5.0,
                        liveness_mode="off")
    context = AppContext(settings, database_url="sqlite:///" + str(tmp_path / "t.db"))
    context._photo_pipeline = photo_pipeline  # share the loaded models between tests
    yield context
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(30_000)  # the page's loads read the database
    context.close()


@pytest.fixture
def make_page(qtbot, ctx, pipeline):
    pages = []

    def make(source, door=None, **kwargs):
        page = DoorPage(ctx, source=str(source), door_backend=door or RecordingDoor(),
                        pipeline_factory=lambda: pipeline, **kwargs)
        qtbot.addWidget(page)
        page.resize(1000, 720)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()


def enroll(ctx, photo, number, name):
    return ctx.enrollment.enroll(photo, employee_number=number, name=name, consent=True
                                 ).employee_id


def events(ctx):
    with ctx.db.session() as s:
        return [(e.decision, e.employee_id, e.reason, repo.get_event_snapshot(s, e.id))
                for e in repo.query_events(s, None, newest_first=False)]


@pytest.fixture
def obama_video(shared_data, tmp_path):
    people = shared_data / "people"
    frames = empty_frames(20) + passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"),
                                               90) + empty_frames(20)
    return write_video(tmp_path / "obama.avi", frames)


def test_enrolled_person_sees_welcome_and_the_door_opens_once(qtbot, ctx, make_page,
                                                              shared_data, obama_video):
    obama = enroll(ctx, shared_data / "people" / "Barack_Obama" / "obama.jpg", "E1",
                   "Barack Obama")
    door = RecordingDoor()
    page = make_page(obama_video, door)
    qtbot.waitUntil(lambda: page.banner_kind == "granted", timeout=WAIT_MS)
    assert page.banner_title.text() == "Welcome, Barack Obama"
    # The enrolled photo arrives from the database off the GUI thread.
    qtbot.waitUntil(lambda: page.banner_photo.isVisible(), timeout=WAIT_MS)
    if (shot := __import__("os").environ.get("TURNSTILE_SCREENSHOT")):
        page.grab().save(shot)
    qtbot.waitUntil(lambda: door.count("open") == 1, timeout=WAIT_MS)
    # Status bar: camera frame rate, processing time, door state.
    qtbot.waitUntil(lambda: "fps" in page.status_camera.text(), timeout=WAIT_MS)
    assert re.search(r"video file obama\.avi \(from the command line\) · \d+\.\d fps",
                     page.status_camera.text())
    assert re.search(r"Processing: \d+ ms/frame", page.status_processing.text())
    assert page.status_door.text().startswith("Door: ")
    assert page.video.frames_painted > 10
    page.shutdown()
    assert door.count("open") == 1
    assert door.commands[-2:] == ["close", "release"]
    logged = events(ctx)
    assert logged[0][:2] == ("granted", obama) and logged[0][3] is not None


def test_door_pill_shows_open_while_unlocked(qtbot, ctx, make_page, shared_data, obama_video):
    ctx.settings = Settings(unlock_ms=5000, liveness_mode="off")
    enroll(ctx, shared_data / "people" / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    page = make_page(obama_video)
    qtbot.waitUntil(lambda: page.door_pill.text() == "OPEN", timeout=WAIT_MS)
    assert "Door: open" in page.status_door.text()


def test_stranger_sees_not_recognised_and_the_door_stays_shut(qtbot, ctx, make_page,
                                                            shared_data, tmp_path):
    people = shared_data / "people"
    enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    video = write_video(tmp_path / "biden.avi", empty_frames(20) + passage_frames(
        Portrait(people / "Joe_Biden" / "biden2.jpg"), 120))
    door = RecordingDoor()
    page = make_page(video, door)
    qtbot.waitUntil(lambda: page.banner_kind == "unknown", timeout=WAIT_MS)
    assert page.banner_title.text() == "Not recognised"
    page.shutdown()
    assert door.count("open") == 0
    assert [e[:3] for e in events(ctx)][0] == ("unknown", None, "not an enrolled person")


def test_suspended_person_is_told_why(qtbot, ctx, make_page, shared_data, obama_video):
    obama = enroll(ctx, shared_data / "people" / "Barack_Obama" / "obama.jpg", "E1",
                   "Barack Obama")
    with ctx.db.session() as s:
        repo.set_employee_status(s, obama, "suspended")
    door = RecordingDoor()
    page = make_page(obama_video, door)
    qtbot.waitUntil(lambda: page.banner_kind == "denied", timeout=WAIT_MS)
    assert page.banner_title.text() == "Access denied"
    assert "Barack Obama: suspended" in page.banner_detail.text()
    page.shutdown()
    assert door.count("open") == 0
    assert events(ctx)[0][:3] == ("denied", obama, "suspended")


def test_file_ending_shows_camera_lost_logs_it_and_reconnects(qtbot, ctx, make_page,
                                                             tmp_path):
    video = write_video(tmp_path / "short.avi", empty_frames(30))
    door = RecordingDoor()
    page = make_page(video, door)
    qtbot.waitUntil(lambda: page.banner_kind == "error", timeout=WAIT_MS)
    assert page.banner_title.text() == "The video ended – the door is locked"
    assert "ended, starting again" in page.status_camera.text()
    # The file is opened again: the picture comes back.
    qtbot.waitUntil(lambda: page._camera_status.state is CameraState.LIVE, timeout=WAIT_MS)
    page.shutdown()
    assert ("error", None, "camera lost") in [e[:3] for e in events(ctx)]
    assert door.count("open") == 0 and door.count("close") >= 2


def test_no_camera_says_so_and_offers_a_video_file(qtbot, ctx, make_page, obama_video,
                                                  monkeypatch):
    page = make_page("97")  # no webcam at index 97
    qtbot.waitUntil(lambda: page.notice.isVisible(), timeout=WAIT_MS)
    assert page.banner_title.text() == "No camera – the door is locked"
    assert "No camera was found at index 97" in page.notice_text.text()
    assert page.open_file_button.isVisible()
    assert not page.video.has_picture
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(obama_video), "Videos")))
    qtbot.mouseClick(page.open_file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.video.has_picture, timeout=WAIT_MS)
    assert not page.notice.isVisible()
    qtbot.waitUntil(lambda: "obama.avi" in page.status_camera.text(), timeout=WAIT_MS)
    assert ("error", None, "camera unavailable") in [e[:3] for e in events(ctx)]


def test_door_failure_is_shown_and_the_door_is_told_to_lock(qtbot, ctx, make_page,
                                                           shared_data, obama_video):
    enroll(ctx, shared_data / "people" / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    door = RecordingDoor()
    door.fail_open = True
    page = make_page(obama_video, door)
    qtbot.waitUntil(lambda: page.door_pill.text() == "DOOR FAULT", timeout=WAIT_MS)
    assert "relay not answering" in page.status_door.text()
    assert page.notice.isVisible() and "did not respond" in page.notice_text.text()
    assert page.door.state is LockState.FAULT
    i = door.commands.index("open-failed")
    qtbot.waitUntil(lambda: "close" in door.commands[i + 1:], timeout=WAIT_MS)


def test_shutdown_stops_the_worker_and_locks_the_door(qtbot, ctx, make_page, obama_video):
    door = RecordingDoor()
    page = make_page(obama_video, door)
    qtbot.waitUntil(lambda: page.video.has_picture, timeout=WAIT_MS)
    page.shutdown()
    assert not page.vision_thread.isRunning()
    assert door.commands[-2:] == ["close", "release"]
    page.shutdown()  # twice is harmless


def test_demo_shows_the_stranger_then_opens_once_she_is_enrolled(qtbot, ctx, make_page):
    door = RecordingDoor()
    page = make_page("demo", door, realtime=False)
    qtbot.waitUntil(lambda: page.demo_bar.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.banner_kind == "unknown", timeout=WAIT_MS)
    qtbot.mouseClick(page.demo_enrol_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(d.verdict == "granted" for d in page.decisions),
                    timeout=60_000)
    granted = [d for d in page.decisions if d.verdict == "granted"]
    assert granted[0].name == "Eileen Collins (demo)"
    qtbot.waitUntil(lambda: door.count("open") >= 1, timeout=WAIT_MS)


def test_main_window_closes_the_door_on_exit(qtbot, ctx, pipeline, obama_video, monkeypatch):
    from turnstile.gui import door_page
    from turnstile.gui.main_window import MainWindow

    door = RecordingDoor()
    original = door_page.DoorPage.__init__

    def with_test_parts(self, ctx, parent=None, **kwargs):
        original(self, ctx, parent, door_backend=door, pipeline_factory=lambda: pipeline,
                 **kwargs)

    monkeypatch.setattr(door_page.DoorPage, "__init__", with_test_parts)
    window = MainWindow(ctx, source=str(obama_video))
    qtbot.addWidget(window)
    window.show()
    page = window.pages[0]
    qtbot.waitUntil(lambda: page.video.has_picture, timeout=WAIT_MS)
    window.close()
    assert not page.vision_thread.isRunning()
    assert door.commands[-2:] == ["close", "release"]


def test_missing_models_are_reported_and_the_door_stays_locked(qtbot, ctx, obama_video):
    from turnstile.errors import ModelFileError

    def broken():
        raise ModelFileError("Model file dlib_resnet_v1.tflite is corrupt. Reinstall Turnstile.")

    door = RecordingDoor()
    page = DoorPage(ctx, source=str(obama_video), door_backend=door, pipeline_factory=broken)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.notice.isVisible(), timeout=WAIT_MS)
    assert "could not be loaded" in page.notice_text.text()
    assert "Reinstall Turnstile" in page.notice_text.text()
    page.shutdown()
    assert door.count("open") == 0 and door.commands[-2:] == ["close", "release"]


def test_photo_held_up_with_liveness_on_is_refused_without_naming_anyone(
        qtbot, tmp_path, photo_pipeline, pipeline, shared_data):
    settings = Settings(snapshot_policy="denied", unlock_ms=300, cooldown_s=0.5,
                        liveness_mode="passive", spoof_max_attempts=1, spoof_lockout_min=5)
    context = AppContext(settings, database_url="sqlite:///" + str(tmp_path / "l.db"))
    context._photo_pipeline = photo_pipeline
    people = shared_data / "people"
    enroll(context, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    frames = passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"), 300, seed=4)
    video = write_video(tmp_path / "held_up.avi", frames)
    door = RecordingDoor()
    page = DoorPage(context, source=str(video), door_backend=door,
                    pipeline_factory=lambda: pipeline)
    qtbot.addWidget(page)
    page.show()
    alerts = []
    page.alert_raised.connect(alerts.append)
    try:
        qtbot.waitUntil(lambda: any(d.verdict == "spoof" for d in page.decisions),
                        timeout=30_000)
        assert page.banner_kind == "denied"
        assert page.banner_title.text() == "Access denied"
        assert "live person" in page.banner_detail.text()
        assert "Obama" not in page.banner_detail.text()
        # One attempt allowed: the lockout alert reaches whoever listens (the admin's window).
        qtbot.waitUntil(lambda: bool(alerts), timeout=5_000)
        assert "locked out" in alerts[0] and "Obama" not in alerts[0]  # on the door screen
        # ... and into the audit trail, which every admin station reads (no name in it).
        from turnstile.services.audit import AuditFilter

        lockouts = AuditFilter(actions=("spoof_lockout",))
        qtbot.waitUntil(lambda: bool(context.audit_trail.query(lockouts)), timeout=5_000)
        entry = context.audit_trail.query(lockouts)[0]
        assert entry.actor == "system" and "Obama" not in (entry.detail or "")
    finally:
        page.shutdown()
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(30_000)
        with context.db.session() as s:
            logged = [e.decision for e in repo.query_events(s, None, newest_first=False)]
        context.close()
    assert door.count("open") == 0
    assert logged[0] == "spoof"


def test_one_to_one_door_opens_after_the_badge_is_typed(qtbot, tmp_path, photo_pipeline,
                                                         pipeline, shared_data):
    settings = Settings(unlock_ms=300, liveness_mode="off", door_mode="verify")
    context = AppContext(settings, database_url="sqlite:///" + str(tmp_path / "v.db"))
    context._photo_pipeline = photo_pipeline
    people = shared_data / "people"
    obama = enroll(context, people / "Barack_Obama" / "obama.jpg", "B-1001", "Barack Obama")
    frames = passage_frames(Portrait(people / "Barack_Obama" / "obama2.jpg"), 600, seed=5)
    video = write_video(tmp_path / "badge.avi", frames)
    door = RecordingDoor()
    page = DoorPage(context, source=str(video), door_backend=door,
                    pipeline_factory=lambda: pipeline)
    qtbot.addWidget(page)
    page.show()
    try:
        assert page.badge_bar.isVisible()
        # The face alone is asked for a badge; nothing opens.
        qtbot.waitUntil(lambda: "badge" in page.banner_title.text(), timeout=WAIT_MS)
        assert door.count("open") == 0
        qtbot.keyClicks(page.badge_input, "B-1001")  # what a USB badge reader types
        qtbot.keyClick(page.badge_input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: page.banner_kind == "granted", timeout=WAIT_MS)
        assert page.banner_title.text() == "Welcome, Barack Obama"
        assert page.badge_input.text() == ""
        # the decision is queued just after the frame's report that turned the banner green
        qtbot.waitUntil(lambda: bool(page.decisions), timeout=WAIT_MS)
        assert page.decisions[-1].employee_id == obama
    finally:
        page.shutdown()
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(30_000)
        context.close()
    assert door.count("open") == 1


def test_saved_door_settings_apply_to_the_running_door(qtbot, ctx, make_page, shared_data,
                                                       obama_video):
    import dataclasses

    from turnstile.matching.door_policy import ASK_FOR_BADGE

    enroll(ctx, shared_data / "people" / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    page = make_page(obama_video)
    assert not page.badge_bar.isVisible()
    changed = dataclasses.replace(ctx.settings, door_mode="verify", liveness_mode="challenge",
                                  snapshot_policy="none", unlock_ms=900)
    page.apply_settings(changed)
    assert page.badge_bar.isVisible() and page.events.snapshot_policy == "none"
    assert page.door.unlock_ms == 900
    # The worker now asks the face for a badge instead of identifying it.
    qtbot.waitUntil(lambda: page.banner_title.text() == ASK_FOR_BADGE, timeout=WAIT_MS)
    assert not any(d.verdict == "granted" for d in page.decisions)


# -- what the unattended door screen may show ------------------------------------------------


def _screen_texts(page: DoorPage) -> list[str]:
    """Everything on the door screen that could name someone: the banner and the status bar
    (the face box labels are recorded separately, as they are drawn)."""
    return [page.banner_title.text(), page.banner_detail.text(), page.status_camera.text(),
            page.status_door.text(), page.notice_text.text()]


def _record_screen(page: DoorPage):
    """Record every banner text and every face box label shown from now on."""
    shown: list[str] = []
    set_report, set_banner = page.video.set_report, page._set_banner

    def report(r):
        set_report(r)
        if page.video._report is not None:
            shown.extend(f"{f.label} {f.score}" for f in page.video._report.faces)

    def banner(kind, title, detail="", photo=None):
        set_banner(kind, title, detail, photo)
        shown.extend((title, detail))

    page.video.set_report = report
    page._set_banner = banner
    return shown


def _liveness_context(tmp_path, photo_pipeline, **settings):
    values = dict(snapshot_policy="denied", unlock_ms=300, cooldown_s=0.5,
                  liveness_mode="passive", spoof_max_attempts=1, spoof_lockout_min=10)
    values.update(settings)
    context = AppContext(Settings(**values), database_url="sqlite:///" + str(tmp_path / "l.db"))
    context._photo_pipeline = photo_pipeline
    return context


def _close(page: DoorPage, context: AppContext) -> None:
    from PySide6.QtCore import QThreadPool

    page.shutdown()
    QThreadPool.globalInstance().waitForDone(30_000)
    context.close()


def test_a_locked_out_identity_is_never_named_at_the_door(qtbot, tmp_path, photo_pipeline,
                                                          pipeline, shared_data):
    """A printed photo is refused as a spoof, which locks its identity out; the same photo
    held up again is denied as locked out: the face box, the banner and the alert say so
    without the name, the score or the enrolled photo. The access log keeps the name's id."""
    people = shared_data / "people"
    context = _liveness_context(tmp_path, photo_pipeline)
    obama = enroll(context, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    held_up = Portrait(people / "Barack_Obama" / "obama2.jpg")
    frames = (passage_frames(held_up, 300, seed=4) + empty_frames(30)
              + passage_frames(held_up, 120, seed=6) + empty_frames(30)
              + passage_frames(held_up, 120, seed=7))
    video = write_video(tmp_path / "held_up_twice.avi", frames)
    door = RecordingDoor()
    page = DoorPage(context, source=str(video), door_backend=door,
                    pipeline_factory=lambda: pipeline)
    qtbot.addWidget(page)
    page.resize(1000, 720)
    page.show()
    shown = _record_screen(page)
    alerts: list[str] = []
    page.alert_raised.connect(alerts.append)
    try:
        qtbot.waitUntil(lambda: any(d.verdict == "denied" for d in page.decisions),
                        timeout=40_000)
        denied = next(d for d in page.decisions if d.verdict == "denied")
        assert denied.employee_id == obama and "locked out" in denied.reason
        assert page.banner_kind == "denied" and page.banner_title.text() == "Access denied"
        assert "10 min" in page.banner_detail.text()
        assert "liveness" in page.banner_detail.text()
        qtbot.wait(300)  # the enrolled photo would load off the GUI thread meanwhile
        assert page.banner_photo.isHidden()
        labels = [f.label for f in page.video._report.faces] if page.video._report else []
        assert all(len(label) <= 24 for label in labels), labels
        assert alerts and "locked out" in alerts[0] and "Access log" in alerts[0]
        for text in shown + _screen_texts(page) + alerts:
            assert "Obama" not in text, text
        assert not any("0." in text and "Locked" in text for text in shown), \
            "no score beside a refused identity"
    finally:
        _close(page, context)
    assert door.count("open") == 0


def test_a_suspended_face_is_not_named_before_liveness_is_confirmed(qtbot, tmp_path,
                                                                    photo_pipeline, pipeline,
                                                                    shared_data):
    """The door refuses a suspended person without waiting for the liveness check, so the
    face may be a photo: it is told why, not whose face it is."""
    people = shared_data / "people"
    context = _liveness_context(tmp_path, photo_pipeline)
    obama = enroll(context, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    with context.db.session() as s:
        repo.set_employee_status(s, obama, "suspended")
    video = write_video(tmp_path / "suspended.avi", empty_frames(10) + passage_frames(
        Portrait(people / "Barack_Obama" / "obama2.jpg"), 90, seed=3))
    page = DoorPage(context, source=str(video), door_backend=RecordingDoor(),
                    pipeline_factory=lambda: pipeline)
    qtbot.addWidget(page)
    page.show()
    shown = _record_screen(page)
    try:
        qtbot.waitUntil(lambda: any(d.verdict == "denied" for d in page.decisions),
                        timeout=WAIT_MS)
        qtbot.waitUntil(lambda: page.banner_kind == "denied", timeout=WAIT_MS)
        assert "suspended" in page.banner_detail.text().lower()
        qtbot.wait(300)
        assert page.banner_photo.isHidden()
        for text in shown + _screen_texts(page):
            assert "Obama" not in text, text
    finally:
        _close(page, context)
    assert events(context)[0][:3] == ("denied", obama, "suspended")  # the log keeps who


def test_one_to_one_mismatch_does_not_name_the_claimed_person(qtbot, ctx, make_page,
                                                             obama_video):
    """1:1 mode: a face that does not match the number typed is not that person."""
    from datetime import UTC, datetime

    from turnstile.door.station import StationDecision
    from turnstile.matching.door_policy import FACE_NOT_CLAIMED

    page = make_page(obama_video)
    page._on_decision(StationDecision("denied", 3, 7, "Dana Scully", FACE_NOT_CLAIMED, 0.1,
                                      datetime.now(UTC), seq=10**9,
                                      source_generation=10**9))
    assert page.banner_kind == "denied"
    assert "Scully" not in page.banner_detail.text()
    assert "does not match" in page.banner_detail.text()
    assert page.banner_photo.isHidden()


def test_a_long_refusal_label_is_shortened_to_fit_over_the_picture(qtbot, ctx, make_page,
                                                                   obama_video):
    """Liveness off: a live person refused is named, in a label short enough for the box."""
    import dataclasses

    from turnstile.door.station import FaceView, FrameReport
    from turnstile.matching.door_policy import DoorState

    page = make_page(obama_video)
    qtbot.waitUntil(lambda: page.video.has_picture, timeout=WAIT_MS)
    long_label = "Maximiliana Wolfeschlegelsteinhausen (not valid before 2031-01-01)"
    report = FrameReport(page.video.current_seq, 10**6, 0, 0.0, (640, 480),
                         (FaceView((100, 100, 120, 120), long_label, 0.8, "denied", True),),
                         DoorState.CHECKING, "", 7, "Maximiliana", 1, 5.0)
    page._on_report(report)
    label = page.video._report.faces[0].label
    assert label.startswith("Maximiliana") and len(label) <= 32 and label.endswith("…")
    page._on_report(dataclasses.replace(report, seq=report.seq + 1))  # still shortened
    assert len(page.video._report.faces[0].label) <= 32


def test_a_video_file_that_ends_says_it_plays_again(qtbot, ctx, make_page, tmp_path):
    video = write_video(tmp_path / "short.avi", empty_frames(30))
    page = make_page(video)
    qtbot.waitUntil(lambda: page.banner_kind == "error", timeout=WAIT_MS)
    texts = " ".join(_screen_texts(page))
    assert "ended" in page.banner_title.text().lower()
    assert "again" in page.banner_detail.text()
    assert "0 s" not in texts and "Camera lost" not in texts


def test_no_camera_is_explained_once(qtbot, ctx, make_page):
    page = make_page("97")  # no webcam at index 97
    qtbot.waitUntil(lambda: page.notice.isVisible(), timeout=WAIT_MS)
    message = "No camera was found at index 97"
    assert message in page.notice_text.text()
    assert message not in page.banner_detail.text()


# -- 1:1 mode prompts and the keyboard; the welcome and the door --------------------------------


def _one_to_one(ctx) -> None:
    ctx.settings = Settings(unlock_ms=300, liveness_mode="off", door_mode="verify")


def test_one_to_one_idle_prompt_asks_for_the_badge(qtbot, ctx, make_page, tmp_path):
    from turnstile.matching.door_policy import ASK_FOR_BADGE

    _one_to_one(ctx)
    page = make_page(write_video(tmp_path / "nobody.avi", empty_frames(300)))
    qtbot.waitUntil(lambda: page.banner_kind == "idle", timeout=WAIT_MS)
    assert page.banner_title.text() == ASK_FOR_BADGE


def test_one_to_one_badge_prompt_is_back_when_a_decision_leaves_the_banner(
        qtbot, ctx, make_page, shared_data, tmp_path):
    """A face still in view after a decision is asked for the badge at once, not told to
    look at the camera."""
    from turnstile.matching.door_policy import ASK_FOR_BADGE

    _one_to_one(ctx)
    video = write_video(tmp_path / "waiting.avi", passage_frames(
        Portrait(shared_data / "people" / "Barack_Obama" / "obama2.jpg"), 600, seed=5))
    page = make_page(video)
    qtbot.waitUntil(lambda: page.banner_kind == "guidance", timeout=WAIT_MS)
    assert page.banner_title.text() == ASK_FOR_BADGE
    after_hold: list[str] = []
    page._banner_timer.timeout.connect(lambda: after_hold.append(page.banner_title.text()))
    qtbot.keyClicks(page.badge_input, "X-999")  # nobody has this number
    qtbot.keyClick(page.badge_input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.banner_title.text() == "Unknown number", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(after_hold), timeout=WAIT_MS)
    assert after_hold[0] == ASK_FOR_BADGE  # the face is still in view
    assert page.video._report is not None and page.video._report.faces


def test_one_to_one_badge_box_gets_the_focus_and_the_keys(qtbot, ctx, make_page, obama_video):
    """Switched on while shown, after each decision, and keys typed while a button has the
    focus: a badge reader types blind."""
    import dataclasses
    from datetime import UTC, datetime

    from PySide6.QtTest import QTest

    from turnstile.door.station import StationDecision

    page = make_page(obama_video)
    qtbot.waitUntil(page.isActiveWindow, timeout=WAIT_MS)
    claims: list[str] = []
    page.claim_requested.connect(claims.append)
    page.apply_settings(dataclasses.replace(ctx.settings, door_mode="verify"))
    assert page.focusWidget() is page.badge_input
    page.badge_input.clearFocus()
    page._on_decision(StationDecision("unknown", 0, None, "", "no employee has this number",
                                      None, datetime.now(UTC), seq=10**9,
                                      source_generation=10**9))
    assert page.focusWidget() is page.badge_input
    page.open_file_button.show()
    page.open_file_button.setFocus()
    for character in "E 1":  # a space would click the button
        QTest.keyClick(page.windowHandle(), character)
    QTest.keyClick(page.windowHandle(), Qt.Key.Key_Return)
    assert claims == ["E 1"] and page.focusWidget() is page.badge_input


def test_the_welcome_goes_once_the_door_has_locked_again(qtbot, ctx, make_page, shared_data,
                                                         tmp_path):
    """The person stays in view long after the door opened for them: the banner holds the
    welcome for its time, then asks for the next person, not "Welcome" again."""
    import time

    from turnstile.gui.door_page import BANNER_MIN_HOLD_MS

    people = shared_data / "people"
    enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    video = write_video(tmp_path / "lingers.avi", empty_frames(10) + passage_frames(
        Portrait(people / "Barack_Obama" / "obama2.jpg"), 360, seed=2))
    door = RecordingDoor()
    page = make_page(video, door)  # unlock_ms=300: the banner holds longer than the door
    qtbot.waitUntil(lambda: any(d.verdict == "granted" for d in page.decisions),
                    timeout=WAIT_MS)
    decided = time.monotonic()
    assert page.banner_kind == "granted"
    qtbot.waitUntil(lambda: door.count("close") >= 2, timeout=WAIT_MS)  # locked again
    qtbot.waitUntil(lambda: page.banner_kind != "granted",
                    timeout=BANNER_MIN_HOLD_MS + 2_000)
    assert time.monotonic() - decided >= 0.9 * BANNER_MIN_HOLD_MS / 1000  # not cut short
    qtbot.wait(1_000)
    assert page.video._report is not None and page.video._report.faces  # still in view
    assert page.banner_kind == "idle" and page.banner_title.text() == "Please look at the camera"
    assert door.count("open") == 1
