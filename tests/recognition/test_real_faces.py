"""The real pipeline on real faces: the same person matches, different people don't, and
both faces of each group photo are found. No fake embedder here."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from turnstile.matching.policy import VERIFY_THRESHOLD
from turnstile.vision.imageio import read_image


def _embedding(pipeline, path: Path) -> np.ndarray:
    faces = pipeline.process(read_image(path), max_faces=1)
    assert faces, f"no face found in {path.name}"
    return faces[0].embedding


def test_astronaut_gives_one_unit_embedding(pipeline, astronaut_bgr):
    faces = pipeline.process(astronaut_bgr)
    assert len(faces) == 1
    face = faces[0]
    assert face.embedding.shape == (pipeline.embedder.dim,)
    assert face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    x, y, w, h = face.box
    # Eileen Collins' face is in the upper middle of the 512x512 photo.
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 200 and 60 < w < 200


def test_one_thread_embedding_is_the_same_embedding(pipeline, astronaut_bgr):
    """The door embeds on one thread while liveness has the other core: same templates."""
    from turnstile.vision.types import Face

    face = pipeline.detect(astronaut_bgr)[0]
    both = [pipeline.embed(astronaut_bgr, [Face(face.box, face.landmarks, face.score)],
                           one_thread=solo)[0].embedding for solo in (False, True, False)]
    assert float(both[0] @ both[1]) > 0.99999
    assert float(both[1] @ both[2]) > 0.99999  # and the shared interpreter is untouched


def test_astronaut_matches_herself_shifted_and_scaled(pipeline, astronaut_bgr):
    import cv2

    original = pipeline.process(astronaut_bgr)[0].embedding
    moved = cv2.resize(astronaut_bgr[20:, 30:], None, fx=1.6, fy=1.6)
    again = pipeline.process(moved)[0].embedding
    assert float(original @ again) >= VERIFY_THRESHOLD


PEOPLE = {
    "Barack_Obama": ["obama.jpg", "obama1.jpg", "obama2.jpg", "obama3.jpg", "obama-1080p.jpg",
                     "obama_small.jpg"],
    "Joe_Biden": ["biden.jpg", "biden2.jpg"],
    "Kit_Harington": ["john1.jpeg", "john2.jpeg", "johnsnow_test1.jpg"],
    "Alex_Lacamoire": ["alex-lacamoire.png", "alex_lacamoire1.jpg", "img1.jpg"],
    "Rose_Leslie": ["img1.jpg", "img2.jpg"],
}


@pytest.fixture(scope="module")
def people_embeddings(shared_data, pipeline):
    return {
        (person, name): _embedding(pipeline, shared_data / "people" / person / name)
        for person, names in PEOPLE.items() for name in names
    }


def test_same_person_matches(people_embeddings):
    misses = []
    for person in PEOPLE:
        mine = [e for (p, _), e in people_embeddings.items() if p == person]
        for a, b in itertools.combinations(mine, 2):
            if float(a @ b) < VERIFY_THRESHOLD:
                misses.append((person, round(float(a @ b), 3)))
    assert not misses, f"same person scored below {VERIFY_THRESHOLD}: {misses}"


def test_different_people_do_not_match(people_embeddings):
    false_accepts = []
    for (pa, na), a in people_embeddings.items():
        for (pb, nb), b in people_embeddings.items():
            if pa < pb and float(a @ b) >= VERIFY_THRESHOLD:
                false_accepts.append((na, nb, round(float(a @ b), 3)))
    assert not false_accepts, f"different people matched: {false_accepts}"


@pytest.mark.parametrize(("name", "expected"), [
    ("kit_with_rose.jpg", 2),
    ("two_people.jpg", 2),
    # Besides the two men, a girl's face is in the lower right corner (about 160 px wide).
    ("obama_and_biden.jpg", 3),
])
def test_both_faces_found_in_group_photos(shared_data, photo_pipeline, name, expected):
    frame = read_image(shared_data / "group_photos" / name)
    faces = photo_pipeline.detect(frame)
    assert len(faces) == expected, [f.box for f in faces]
    a, b = faces[:2]
    # the two largest are two separate people side by side: their boxes do not overlap
    assert a.box[0] + a.box[2] <= b.box[0] or b.box[0] + b.box[2] <= a.box[0]


def test_obama_and_biden_are_told_apart(shared_data, photo_pipeline, people_embeddings):
    frame = read_image(shared_data / "group_photos" / "obama_and_biden.jpg")
    faces = sorted(photo_pipeline.process(frame)[:2], key=lambda f: f.box[0])
    biden = people_embeddings[("Joe_Biden", "biden.jpg")]
    obama = people_embeddings[("Barack_Obama", "obama.jpg")]
    left, right = faces  # Biden stands on the left
    assert float(left.embedding @ biden) >= VERIFY_THRESHOLD > float(left.embedding @ obama)
    assert float(right.embedding @ obama) >= VERIFY_THRESHOLD > float(right.embedding @ biden)


def test_group_photo_faces_are_recognised(shared_data, photo_pipeline, people_embeddings):
    frame = read_image(shared_data / "group_photos" / "kit_with_rose.jpg")
    faces = photo_pipeline.process(frame)
    kit = people_embeddings[("Kit_Harington", "john1.jpeg")]
    rose = people_embeddings[("Rose_Leslie", "img1.jpg")]
    found = {("kit" if float(f.embedding @ kit) > float(f.embedding @ rose) else "rose")
             for f in faces}
    assert found == {"kit", "rose"}
    for f in faces:
        assert max(float(f.embedding @ kit), float(f.embedding @ rose)) >= VERIFY_THRESHOLD


@pytest.mark.parametrize("face_px", [40, 80, 200, 420])
def test_faces_from_40px_to_filling_the_frame(astronaut_bgr, photo_pipeline, face_px):
    import cv2

    crop = astronaut_bgr[30:250, 120:340]  # her face (the detector's box: 96 px) with margin
    scaled = cv2.resize(crop, None, fx=face_px / 96, fy=face_px / 96, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    h, w = min(scaled.shape[0], 480), min(scaled.shape[1], 640)
    y, x = (480 - h) // 2, (640 - w) // 2
    canvas[y:y + h, x:x + w] = scaled[:h, :w]
    faces = photo_pipeline.detect(canvas)
    assert len(faces) == 1
    assert faces[0].box[2] == pytest.approx(face_px, rel=0.25)


def test_blank_and_tiny_frames_have_no_face(pipeline):
    assert pipeline.process(np.zeros((480, 640, 3), np.uint8)) == []
    assert pipeline.process(np.full((1, 1, 3), 127, np.uint8)) == []
    assert pipeline.process(np.zeros((3000, 40, 3), np.uint8)) == []
