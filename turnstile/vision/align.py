"""Alignment: a similarity warp (rotation, uniform scale, shift) from detected keypoints to
the canonical face chip the embedder was trained on."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from turnstile.vision.types import Frame, Landmark

CHIP_KEYPOINTS_150 = np.array([
    [46.249, 47.363],
    [102.150, 47.338],
    [74.482, 76.816],
    [74.444, 106.981],
    [16.152, 63.141],
    [131.976, 63.085],
], np.float32)
"""Mean position of each BlazeFace keypoint (rows as :class:`Landmark`) on dlib's 150x150
face chip (``get_face_chip(..., size=150, padding=0.25)``), measured on 1,497 LFW faces by
``installer/derive_chip_template.py``. Warping these points onto this template reproduces the
crop dlib's ResNet was trained on."""

ARCFACE_KEYPOINTS_112 = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], np.float32)
"""The 112x112 chip of ArcFace-style embedders (SFace): where the subject's right eye, left
eye, nose tip, right and left mouth corners land (InsightFace's published template)."""

ALIGN_POINTS = (Landmark.RIGHT_EYE, Landmark.LEFT_EYE, Landmark.NOSE_TIP, Landmark.MOUTH_CENTER)
"""Keypoints used for the warp. The ear tragions are left out: they are hidden or misplaced
as soon as the head turns (their spread on the chips is 4x that of the eyes)."""


def similarity_transform(
    src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Least-squares similarity transform (Umeyama, 1991) mapping ``src`` points onto ``dst``.

    Args:
        src: ``(N, 2)`` points, N >= 2.
        dst: ``(N, 2)`` points.

    Returns:
        ``(2, 3)`` affine matrix for ``cv2.warpAffine``.
    """
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var = (src_c ** 2).sum() / len(src)
    scale = (s * d).sum() / var if var > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(
    frame: Frame,
    landmarks: npt.NDArray[np.float32],
    chip_px: int = 150,
) -> Frame:
    """Cut the face out of ``frame`` as an upright ``chip_px`` x ``chip_px`` chip.

    Args:
        frame: BGR ``uint8 (H, W, 3)``.
        landmarks: ``float32 (6, 2)`` keypoints in frame pixels (see ``vision.types``).
        chip_px: side of the chip; the template scales with it.

    Returns:
        The aligned chip, BGR ``uint8 (chip_px, chip_px, 3)``.
    """
    idx = list(ALIGN_POINTS)
    template = CHIP_KEYPOINTS_150[idx] * (chip_px / 150.0)
    return warp_to_template(frame, landmarks[idx], template, chip_px)


def warp_to_template(frame: Frame, points: npt.NDArray[np.float32],
                     template: npt.NDArray[np.float32], chip_px: int,
                     border: int = cv2.BORDER_REPLICATE) -> Frame:
    """Warp ``frame`` so that ``points`` land on ``template`` (least squares), into a
    ``chip_px`` square; a warp that shrinks more than 2x shrinks by area averaging first.

    Args:
        border: how the chip is filled outside the frame (OpenCV border mode; the default
            repeats the border pixels).

    Returns:
        BGR ``uint8 (chip_px, chip_px, 3)``.
    """
    points = points.astype(np.float32)
    template = template.astype(np.float32)
    matrix = similarity_transform(points, template)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < _MAX_SHRINK_BY_WARP:
        # A bilinear warp that shrinks more than 2x aliases (dlib shrinks through a pyramid):
        # cut the face region out and shrink it by area averaging first.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [chip_px, 0, 1], [0, chip_px, 1], [chip_px, chip_px, 1]],
                           np.float64) @ inverse.T
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            crop = frame[y0:y1, x0:x1]
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            frame = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            points = (points - np.array([x0, y0], np.float32)) * np.float32(
                [size[0] / crop.shape[1], size[1] / crop.shape[0]])
            matrix = similarity_transform(points, template)
    return cv2.warpAffine(frame, matrix, (chip_px, chip_px), flags=cv2.INTER_LINEAR,
                          borderMode=border)


_MAX_SHRINK_BY_WARP = 0.5
