"""Alignment recovers a known similarity transform and cuts an upright chip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from turnstile.vision.align import CHIP_KEYPOINTS_150, align_face, similarity_transform


def test_similarity_transform_recovers_rotation_scale_shift():
    angle, scale, shift = np.deg2rad(20), 2.5, np.array([40.0, -7.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = CHIP_KEYPOINTS_150.astype(np.float64)
    dst = src @ rot.T + shift
    matrix = similarity_transform(src, dst)
    assert matrix[:, :2] == pytest.approx(rot, abs=1e-9)
    assert matrix[:, 2] == pytest.approx(shift, abs=1e-9)


@pytest.mark.parametrize("face_scale", [0.6, 1.0, 3.0])
def test_chip_puts_the_eyes_where_the_template_says(face_scale):
    # Draw two dots where a tilted, scaled face's eyes would be, then align.
    angle = np.deg2rad(-15)
    rot = face_scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (CHIP_KEYPOINTS_150 @ rot.T + 300).astype(np.float32)
    frame = np.zeros((900, 900, 3), np.uint8)
    for x, y in landmarks[:2]:
        cv2.circle(frame, (int(round(x)), int(round(y))), int(4 * face_scale), (255, 255, 255), -1)
    chip = align_face(frame, landmarks, 150)
    assert chip.shape == (150, 150, 3)
    gray = chip[:, :, 0].astype(float)
    eyes = ((CHIP_KEYPOINTS_150[0], slice(0, 75)), (CHIP_KEYPOINTS_150[1], slice(75, 150)))
    for (tx, ty), half in eyes:
        region = np.zeros_like(gray)
        region[:, half] = gray[:, half]
        ys, xs = np.nonzero(region > 60)
        w = region[ys, xs]
        assert np.average(xs, weights=w) == pytest.approx(tx, abs=1.5)
        assert np.average(ys, weights=w) == pytest.approx(ty, abs=1.5)
