"""Draw the application icon, ``assets/turnstile.png`` (256 x 256, drawn, no source image).

    python installer/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "assets" / "turnstile.png"


def draw() -> np.ndarray:
    scale = 4  # draw large, shrink: smooth edges
    s = SIZE * scale
    img = np.zeros((s, s, 4), np.uint8)
    blue, white, green = (178, 110, 33, 255), (255, 255, 255, 255), (80, 175, 76, 255)
    radius = 48 * scale
    cv2.rectangle(img, (radius, 0), (s - radius, s), blue, -1)
    cv2.rectangle(img, (0, radius), (s, s - radius), blue, -1)
    for cx, cy in ((radius, radius), (s - radius, radius), (radius, s - radius),
                   (s - radius, s - radius)):
        cv2.circle(img, (cx, cy), radius, blue, -1, cv2.LINE_AA)
    # a face
    cx, cy, r = s // 2 - 18 * scale, s // 2 - 10 * scale, 70 * scale
    cv2.circle(img, (cx, cy), r, white, 9 * scale, cv2.LINE_AA)
    for ex in (cx - 26 * scale, cx + 26 * scale):
        cv2.circle(img, (ex, cy - 18 * scale), 9 * scale, white, -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy + 14 * scale), (34 * scale, 24 * scale), 0, 20, 160, white,
                8 * scale, cv2.LINE_AA)
    # a green tick: the door opens
    pts = np.array([[150, 190], [175, 215], [225, 160]], np.int32) * scale
    cv2.polylines(img, [pts], False, green, 16 * scale, cv2.LINE_AA)
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


if __name__ == "__main__":
    cv2.imwrite(str(OUT), draw())
    print(OUT)
