"""1:1 mode at the door: a person gives an employee number (typed, or a badge reader that
types it), then the face is verified against that person only. Real models, real video
frames made from real photos, a real SQLite file."""

from __future__ import annotations

import pytest
from door_support import FPS, Portrait, RecordingDoor, empty_frames, passage_frames

from turnstile.capture.base import CapturedFrame
from turnstile.door import DoorCommander
from turnstile.door.station import DoorStation, load_snapshot
from turnstile.matching.door_policy import ASK_FOR_BADGE, DoorPolicy, DoorState
from turnstile.services.access_log import EventWriter
from turnstile.storage import repositories as repo


@pytest.fixture
def site(ctx, shared_data):
    people = shared_data / "people"
    ids = {}
    for number, name, photo in (("E1", "Barack Obama", "Barack_Obama/obama.jpg"),
                                ("E2", "Joe Biden", "Joe_Biden/biden.jpg")):
        ids[number] = ctx.enrollment.enroll(people / photo, employee_number=number,
                                            name=name, consent=True).employee_id
    return ids, Portrait(people / "Barack_Obama" / "obama2.jpg")


class Rig:
    def __init__(self, ctx, pipeline):
        self.ctx, self.door = ctx, RecordingDoor()
        self.commander = DoorCommander(self.door, unlock_ms=100)
        self.events = EventWriter(ctx.db, "Main entrance", "none")
        self.commander.start()
        self.events.start()
        snapshot = load_snapshot(ctx.db, pipeline.model_id, pipeline.embedder.dim,
                                 ctx.thresholds())
        self.station = DoorStation(pipeline, DoorPolicy(3, cooldown_s=0.5),
                                   door=self.commander, events=self.events, snapshot=snapshot,
                                   one_to_one=True, claim_timeout_s=5.0)
        self.t = 0.0
        self.seq = 0

    def play(self, frames):
        reports, decisions = [], []
        for image in frames:
            self.seq += 1
            self.t += 1 / FPS
            report, decision = self.station.process(CapturedFrame(image, self.seq, self.t),
                                                    self.seq, now=self.t)
            reports.append(report)
            if decision is not None:
                decisions.append(decision)
        return reports, decisions

    def finish(self):
        assert self.events.flush(10)
        self.commander.shutdown()
        self.events.close()
        with self.ctx.db.session() as s:
            return [(e.decision, e.employee_id, e.reason, e.threshold)
                    for e in repo.query_events(s, None, newest_first=False)]


def test_face_alone_is_asked_for_a_badge_and_nothing_is_decided(ctx, pipeline, site):
    _, obama_face = site
    rig = Rig(ctx, pipeline)
    reports, decisions = rig.play(passage_frames(obama_face, 40))
    assert decisions == []
    assert reports[-1].state is DoorState.GUIDANCE and reports[-1].message == ASK_FOR_BADGE
    assert rig.finish() == []
    assert rig.door.count("open") == 0


def test_right_number_and_face_opens_wrong_number_is_denied(ctx, pipeline, site):
    ids, obama_face = site
    rig = Rig(ctx, pipeline)
    assert rig.station.claim(" e1 ", rig.t) is None  # spaces and case do not matter
    assert rig.station.claimed_employee == ids["E1"]
    _, granted = rig.play(passage_frames(obama_face, 30, seed=1) + empty_frames(30))
    assert rig.station.claimed_employee is None  # one claim, one decision
    assert rig.station.claim("E2", rig.t) is None  # Obama's face with Biden's badge
    _, denied = rig.play(passage_frames(obama_face, 30, seed=2))
    events = rig.finish()

    assert [(d.verdict, d.employee_id) for d in granted] == [("granted", ids["E1"])]
    assert [(d.verdict, d.employee_id) for d in denied] == [("denied", ids["E2"])]
    assert "does not match" in denied[0].reason
    assert rig.door.count("open") == 1
    assert [e[:2] for e in events] == [("granted", ids["E1"]), ("denied", ids["E2"])]
    # Logged against the 1:1 threshold the decisions were taken with, not the 1:N one.
    assert {e[3] for e in events} == {ctx.thresholds().verify}


def test_unknown_number_is_logged_and_a_claim_expires(ctx, pipeline, site):
    _, obama_face = site
    rig = Rig(ctx, pipeline)
    refused = rig.station.claim("NOBODY'; DROP TABLE employees;--", rig.t)
    assert refused is not None and refused.verdict == "unknown"
    assert rig.station.claim("E1", rig.t) is None
    rig.play(empty_frames(int(6 * FPS)))  # nobody comes within the 5 s
    assert rig.station.claimed_employee is None
    _, decisions = rig.play(passage_frames(obama_face, 30))
    events = rig.finish()
    assert decisions == []
    assert [(e[0], e[2]) for e in events] == [("unknown", "no employee has this number")]
    assert rig.door.count("open") == 0
