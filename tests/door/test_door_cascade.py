"""The door's cascade with real models on real faces: the search model (dlib) names a
candidate on every frame, the confirming model (SFace) decides, about once per passage."""

from __future__ import annotations

import numpy as np
import pytest
from door_support import (
    Portrait,
    RecordingDoor,
    StationRig,
    empty_frames,
    enroll,
    passage_frames,
    write_video,
)
from sqlalchemy import update

from turnstile.door.station import DoorStation, load_snapshot
from turnstile.matching.door_policy import FACE_NOT_CLAIMED, DoorPolicy
from turnstile.matching.policy import Thresholds
from turnstile.resources import confirm_model_id, embedder_model_id
from turnstile.storage import repositories as repo
from turnstile.storage.models import AccessEvent, FaceTemplate


def events(ctx):
    with ctx.db.session() as s:
        rows = s.query(AccessEvent).order_by(AccessEvent.id).all()
        return [(e.decision, e.employee_id, e.model_id, e.score, e.threshold, e.reason)
                for e in rows]


def passage_video(tmp_path, portrait, name, seed=1):
    return write_video(tmp_path / f"{name}.avi",
                       empty_frames(10) + passage_frames(portrait, 75, seed=seed))


def test_enrolled_person_is_let_in_on_the_confirming_models_score(ctx, pipeline, people,
                                                                   tmp_path):
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    video = passage_video(tmp_path, Portrait(people / "Barack_Obama" / "obama2.jpg"), "obama")
    door = RecordingDoor()
    rig = StationRig(ctx, pipeline, door)
    _, decisions = rig.play(video)
    runs = rig.station.confirm_runs
    rig.finish()

    assert [(d.verdict, d.employee_id) for d in decisions] == [("granted", obama)]
    assert door.count("open") == 1
    [(decision, who, model_id, score, threshold, _)] = events(ctx)
    assert (decision, who, model_id) == ("granted", obama, confirm_model_id())
    accept = ctx.confirm_thresholds().accept
    assert threshold == pytest.approx(accept)
    assert accept <= score < 0.95, "an SFace cosine, not dlib's (~0.95 for the same person)"
    # 75 frames of one passage: the slow model ran once (its accept is kept while the same
    # face stays in view), not on every frame.
    assert runs == 1


def test_stranger_the_search_model_takes_for_an_employee_is_refused(ctx, pipeline, people,
                                                                     tmp_path):
    """With thresholds so loose that the search model alone lets Biden in as Obama, the
    confirming model refuses him; the same station without the cascade opens the door."""
    enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    video = passage_video(tmp_path, Portrait(people / "Joe_Biden" / "biden.jpg"), "biden")
    loose = Thresholds(accept=0.5, reject=0.4, min_margin=0.0, verify=0.5)

    def play(cascade):
        snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim, loose,
                                 confirm=ctx.photo_pipeline.confirm if cascade else None,
                                 confirm_thresholds=ctx.confirm_thresholds())
        door = RecordingDoor()
        rig = StationRig(ctx, pipeline, door)
        rig.station.set_snapshot(snapshot)
        _, decisions = rig.play(video)
        rig.finish()
        return [d.verdict for d in decisions], door.count("open"), rig.station.confirm_runs

    alone, opened_alone, _ = play(cascade=False)
    assert alone == ["granted"] and opened_alone == 1, "the search model alone is fooled"
    verdicts, opened, runs = play(cascade=True)
    assert verdicts == ["unknown"] and opened == 0
    # Re-checked a few times while he stood there (never on every one of 75 frames).
    assert 1 <= runs <= 10
    assert events(ctx)[-1][:3] == ("unknown", None, confirm_model_id())


def test_people_enrolled_before_the_confirming_model_get_it_from_their_face_crop(
        ctx, pipeline, people, tmp_path):
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    with ctx.db.session() as s:  # as a database of the previous version holds it
        s.execute(update(FaceTemplate).values(confirm_sealed=None, confirm_model_id=None))
        assert repo.templates_without_confirm(s, confirm_model_id(), embedder_model_id())

    video = passage_video(tmp_path, Portrait(people / "Barack_Obama" / "obama2.jpg"), "obama")
    rig = StationRig(ctx, pipeline)  # loading its staff list fills the missing embedding
    _, decisions = rig.play(video)
    rig.finish()

    assert [(d.verdict, d.employee_id) for d in decisions] == [("granted", obama)]
    assert events(ctx)[0][2] == confirm_model_id()
    with ctx.db.session() as s:
        assert not repo.templates_without_confirm(s, confirm_model_id(), embedder_model_id())
        template = s.query(FaceTemplate).one()
        stored = bytes(template.confirm_sealed)
        plain = np.frombuffer(repo.load_confirm_rows(s, confirm_model_id())[0][2], "<f4")
    assert plain.shape == (128,) and abs(float(np.linalg.norm(plain)) - 1) < 1e-4
    assert plain.tobytes() not in stored, "stored encrypted, like the other template columns"


def test_a_new_photo_replaces_the_crop_made_confirming_template(ctx, people):
    """Staff whose SFace template was rebuilt from the stored crop get a full one from their
    next photo: the door then compares with that one alone, not with its mean with the
    second-best crop-made one."""
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    with ctx.db.session() as s:  # as a database of the previous version holds it
        s.execute(update(FaceTemplate).values(confirm_sealed=None, confirm_model_id=None))
    ctx.galleries.reload()  # fills it in from the crop
    confirm = ctx.galleries.confirm
    probe = ctx.enrollment.check_photo(people / "Barack_Obama" / "obama2.jpg").confirm_embedding
    with ctx.db.session() as s:
        [crop_made] = s.query(FaceTemplate).all()
        assert crop_made.confirm_from_crop
        [(_, _, crop_bytes)] = repo.load_confirm_rows(s, confirm_model_id())
    crop_vector = np.frombuffer(crop_bytes, "<f4")
    assert confirm.verify(obama, probe) == pytest.approx(float(crop_vector @ probe), abs=1e-5)

    added = ctx.enrollment.add_photo(obama, people / "Barack_Obama" / "obama1.jpg")
    with ctx.db.session() as s:
        rows = repo.load_confirm_rows(s, confirm_model_id())
        assert not s.get(FaceTemplate, added.template_id).confirm_from_crop
    assert [t for t, _, _ in rows] == [added.template_id], "the crop-made one is set aside"
    photo_vector = np.frombuffer(rows[0][2], "<f4")
    assert confirm.verify(obama, probe) == pytest.approx(float(photo_vector @ probe), abs=1e-5)
    assert not np.allclose(photo_vector, crop_vector, atol=1e-3)
    # Both templates stay in the search model's gallery (nothing was deleted).
    with ctx.db.session() as s:
        assert len(repo.list_templates(s, obama)) == 2


def test_one_to_one_claim_is_decided_by_the_confirming_model(ctx, pipeline, people, tmp_path):
    obama = enroll(ctx, people / "Barack_Obama" / "obama.jpg", "E1", "Barack Obama")
    enroll(ctx, people / "Joe_Biden" / "biden.jpg", "E2", "Joe Biden")
    snapshot = ctx.door_snapshot(pipeline.model_id, pipeline.embedder.dim)
    station = DoorStation(pipeline, DoorPolicy(3), snapshot=snapshot, one_to_one=True)
    from turnstile.capture.opencv_source import OpenCVCamera

    def present(portrait, name):
        camera = OpenCVCamera(str(passage_video(tmp_path, portrait, name)), realtime=False)
        camera.open()
        assert station.claim("E1", 0.0) is None
        found = []
        while True:
            try:
                frame = camera.read()
            except Exception:  # noqa: BLE001 - the end of the file
                break
            _, decision = station.process(frame, frame.index, now=frame.index / 30.0)
            if decision is not None:
                found.append(decision)
        camera.release()
        return found

    [refused] = present(Portrait(people / "Joe_Biden" / "biden.jpg"), "biden")
    assert (refused.verdict, refused.employee_id, refused.reason) == \
        ("denied", obama, FACE_NOT_CLAIMED)
    assert refused.score < ctx.confirm_thresholds().verify
    station.policy = DoorPolicy(3)  # a new passage, no cooldown from the refusal
    [granted] = present(Portrait(people / "Barack_Obama" / "obama2.jpg"), "obama")
    assert (granted.verdict, granted.employee_id) == ("granted", obama)
    assert ctx.confirm_thresholds().verify <= granted.score < 0.95
    station.close()
