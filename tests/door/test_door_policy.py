"""The door's decision policy, frame by frame with an explicit clock (no Qt, no camera)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from turnstile.matching.door_policy import (
    STEP_CLOSER,
    DoorPolicy,
    DoorState,
    FaceObservation,
    GallerySnapshot,
    Recognition,
    Verdict,
    door_advice,
)
from turnstile.matching.gallery import Gallery
from turnstile.matching.policy import Outcome, Thresholds
from turnstile.vision.quality import Problem

FPS = 30.0
BOX = (200.0, 120.0, 160.0, 160.0)


def ada(score: float = 0.97) -> Recognition:
    return Recognition(Outcome.MATCH, 1, score, 0.05)


def bob_suspended() -> Recognition:
    return Recognition(Outcome.MATCH, 2, 0.97, 0.05, refusal="suspended")


def stranger() -> Recognition:
    return Recognition(Outcome.UNKNOWN, None, 0.80, 0.01)


def grey() -> Recognition:
    return Recognition(Outcome.UNSURE, 1, 0.948, 0.03)


def face(r: Recognition | None, box=BOX, advice: tuple[str, ...] = ()) -> FaceObservation:
    return FaceObservation(box, advice, r)


class Clock:
    def __init__(self) -> None:
        self.frame = 0

    def tick(self) -> float:
        self.frame += 1
        return self.frame / FPS

    def skip(self, seconds: float) -> None:
        self.frame += int(seconds * FPS)


def run(policy: DoorPolicy, clock: Clock, frames: list[list[FaceObservation]]):
    return [policy.update(clock.tick(), f) for f in frames]


def decisions(steps):
    return [s.decision for s in steps if s.decision is not None]


def test_grant_needs_k_consecutive_agreeing_frames():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(ada())]] * 2)
    assert not decisions(steps) and steps[-1].state is DoorState.CHECKING
    steps = run(policy, clock, [[face(ada())]])
    (d,) = decisions(steps)
    assert d.verdict is Verdict.GRANTED and d.employee_id == 1 and d.frames == 3
    assert steps[-1].state is DoorState.GRANTED


def test_one_passage_gives_one_decision_however_long_the_person_stays():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=5), Clock()
    steps = run(policy, clock, [[face(ada())]] * 300)  # ten seconds in front of the camera
    assert len(decisions(steps)) == 1
    assert all(s.state is DoorState.GRANTED for s in steps[3:])


def test_grey_zone_asks_to_step_closer_and_breaks_the_run():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(ada())], [face(ada())], [face(grey())], [face(ada())],
                                [face(ada())]])
    assert steps[2].state is DoorState.GUIDANCE and steps[2].message == STEP_CLOSER
    assert not decisions(steps)  # the grey frame reset the count
    assert decisions(run(policy, clock, [[face(ada())]]))


def test_quality_problems_give_advice_and_do_not_decide():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    small = door_advice([Problem.TOO_SMALL])
    steps = run(policy, clock, [[face(None, advice=small)]] * 20)
    assert not decisions(steps)
    assert steps[-1].state is DoorState.GUIDANCE
    assert steps[-1].message == "Please step closer to the camera."


def test_a_blurred_frame_neither_counts_nor_breaks_the_run():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    blur = door_advice([Problem.BLURRED])
    steps = run(policy, clock, [[face(ada())], [face(ada())], [face(None, advice=blur)],
                                [face(ada())]])
    assert steps[2].message == "Please hold still for a moment."
    (d,) = decisions(steps)
    assert d.verdict is Verdict.GRANTED and d.frames == 3


def test_unknown_face_is_denied_once_after_more_frames():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(stranger())]] * 5)
    assert not decisions(steps)  # 2K = 6 frames by default
    steps = run(policy, clock, [[face(stranger())]] * 60)
    (d,) = decisions(steps)
    assert d.verdict is Verdict.UNKNOWN and d.employee_id is None
    assert steps[-1].state is DoorState.UNKNOWN


def test_suspended_person_is_denied_with_the_reason():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(bob_suspended())]] * 30)
    (d,) = decisions(steps)
    assert d.verdict is Verdict.DENIED and d.employee_id == 2 and d.reason == "suspended"
    assert steps[-1].state is DoorState.DENIED and steps[-1].message == "suspended"


def test_employee_first_unknown_then_recognised_is_granted_in_the_same_passage():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(stranger())]] * 6 + [[face(ada())]] * 3)
    assert [d.verdict for d in decisions(steps)] == [Verdict.UNKNOWN, Verdict.GRANTED]
    assert len({d.passage for d in decisions(steps)}) == 1


def test_a_grant_is_never_followed_by_a_denial_in_the_same_passage():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(ada())]] * 3 + [[face(stranger())]] * 30)
    assert [d.verdict for d in decisions(steps)] == [Verdict.GRANTED]


def test_face_leaving_resets_the_track():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=0), Clock()
    steps = run(policy, clock, [[face(ada())]] * 2)
    first = steps[-1].passage
    clock.skip(1.0)  # gone for a second
    steps = run(policy, clock, [[]])
    assert steps[-1].state is DoorState.IDLE and steps[-1].passage == 0
    steps = run(policy, clock, [[face(ada())]] * 2)
    assert steps[-1].passage != first and steps[-1].streak == 2 and not decisions(steps)


def test_a_short_detector_dropout_keeps_the_track():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    steps = run(policy, clock, [[face(ada())], [face(ada())], [], [face(ada())]])
    assert len({s.passage for s in steps}) == 1
    assert len(decisions(steps)) == 1


def test_cooldown_stops_a_second_event_when_the_person_comes_back_at_once():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=5), Clock()
    first = decisions(run(policy, clock, [[face(ada())]] * 10))
    clock.skip(1.0)
    run(policy, clock, [[]])
    again = run(policy, clock, [[face(ada())]] * 10)  # back within the cooldown
    assert len(first) == 1 and not decisions(again)
    assert again[-1].state is DoorState.GRANTED  # still welcomed on screen
    clock.skip(5.0)
    run(policy, clock, [[]])
    later = decisions(run(policy, clock, [[face(ada())]] * 3))
    assert len(later) == 1 and later[0].passage != first[0].passage


def test_person_waiting_in_a_new_track_is_granted_when_the_cooldown_ends():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=2), Clock()
    assert decisions(run(policy, clock, [[face(ada())]] * 3))
    clock.skip(1.0)
    run(policy, clock, [[]])
    steps = run(policy, clock, [[face(ada())]] * int(2 * FPS))
    (d,) = decisions(steps)
    assert d.verdict is Verdict.GRANTED


def test_cooldown_applies_to_unknown_faces_too():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=5), Clock()
    assert len(decisions(run(policy, clock, [[face(stranger())]] * 10))) == 1
    clock.skip(1.0)
    run(policy, clock, [[]])
    assert not decisions(run(policy, clock, [[face(stranger())]] * 10))


def test_another_person_is_not_held_back_by_someone_elses_cooldown():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=5), Clock()
    assert decisions(run(policy, clock, [[face(ada())]] * 3))
    clock.skip(1.0)
    run(policy, clock, [[]])
    carl = Recognition(Outcome.MATCH, 3, 0.97, 0.05)
    (d,) = decisions(run(policy, clock, [[face(carl)]] * 3))
    assert d.employee_id == 3


def test_the_largest_face_decides():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    near = (100.0, 100.0, 200.0, 200.0)
    far = (450.0, 50.0, 80.0, 80.0)
    frames = [[face(None, far), face(ada(), near)]] * 3  # the stranger far away is ignored
    steps = run(policy, clock, frames)
    assert all(s.primary == 1 for s in steps)
    (d,) = decisions(steps)
    assert d.employee_id == 1


def test_a_different_face_taking_the_place_starts_a_new_passage():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    a = run(policy, clock, [[face(ada(), (0.0, 0.0, 100.0, 100.0))]] * 2)
    b = run(policy, clock, [[face(ada(), (400.0, 200.0, 100.0, 100.0))]])
    assert a[-1].passage != b[-1].passage and b[-1].streak == 1


def test_a_different_person_in_the_run_restarts_the_count():
    policy, clock = DoorPolicy(frames_to_confirm=3), Clock()
    carl = Recognition(Outcome.MATCH, 3, 0.97, 0.05)
    steps = run(policy, clock, [[face(ada())], [face(ada())], [face(carl)], [face(ada())]])
    assert not decisions(steps)


def test_k_equal_one_grants_on_the_first_frame():
    policy, clock = DoorPolicy(frames_to_confirm=1), Clock()
    (d,) = decisions(run(policy, clock, [[face(ada())]]))
    assert d.frames == 1


def test_reset_forgets_the_track_but_keeps_the_cooldown():
    policy, clock = DoorPolicy(frames_to_confirm=3, cooldown_s=5), Clock()
    assert decisions(run(policy, clock, [[face(ada())]] * 3))
    policy.reset()
    assert policy.passage == 0
    assert not decisions(run(policy, clock, [[face(ada())]] * 10))


@pytest.mark.parametrize("kwargs", [{"frames_to_confirm": 0}, {"cooldown_s": -1},
                                    {"frames_to_deny": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        DoorPolicy(**kwargs)


# --- recognising against a snapshot ---------------------------------------------------------


@dataclass(frozen=True)
class P:
    name: str
    status: str = "active"
    valid_until: datetime | None = None

    def refusal(self, now: datetime | None = None) -> str | None:
        if self.status != "active":
            return "suspended"
        if self.valid_until is not None and (now or datetime.now(UTC)) > self.valid_until:
            return f"expired on {self.valid_until:%Y-%m-%d}"
        return None


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def snapshot() -> GallerySnapshot:
    ada_e, bob_e, eve_e = unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)
    everyone = Gallery.from_arrays([10, 20, 30], [1, 2, 3], np.stack([ada_e, bob_e, eve_e]))
    allowed = Gallery.from_arrays([10, 30], [1, 3], np.stack([ada_e, eve_e]))
    people = {1: P("Ada"), 2: P("Bob", status="suspended"),
              3: P("Eve", valid_until=datetime(2020, 1, 1, tzinfo=UTC))}
    return GallerySnapshot(allowed, everyone, people, Thresholds())


def test_snapshot_recognises_an_allowed_person(snapshot):
    r = snapshot.recognise(unit(1, 0.01, 0, 0))
    assert r.outcome is Outcome.MATCH and r.employee_id == 1 and r.allowed
    assert snapshot.name_of(1) == "Ada"


def test_snapshot_tells_a_suspended_person_why(snapshot):
    r = snapshot.recognise(unit(0, 1, 0.01, 0))
    assert r.outcome is Outcome.MATCH and r.employee_id == 2 and r.refusal == "suspended"
    assert not r.allowed


def test_snapshot_checks_validity_at_decision_time(snapshot):
    r = snapshot.recognise(unit(0, 0, 1, 0.01))
    assert r.employee_id == 3 and r.refusal == "expired on 2020-01-01"


def test_snapshot_unknown_face(snapshot):
    r = snapshot.recognise(unit(0, 0, 0, 1))
    assert r.outcome is Outcome.UNKNOWN and not r.allowed


def test_snapshot_grey_zone_is_unsure(snapshot):
    # cos = 0.948: between REJECT (0.9421) and ACCEPT (0.9539)
    r = snapshot.recognise(unit(0.948, (1 - 0.948 ** 2) ** 0.5, 0, 0) * 1.0)
    assert r.outcome is Outcome.UNSURE
