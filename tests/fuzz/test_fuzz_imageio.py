"""Fuzzing image decoding: whatever bytes arrive as a "photo" (random data, real JPEG and
PNG files cut short or with flipped bits, headers that declare enormous pictures),
:func:`read_image` either returns a BGR ``uint8`` frame or raises :class:`ImageError` with a
message. Nothing else escapes, nothing hangs, no huge allocation happens."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from turnstile.errors import ImageError
from turnstile.vision.imageio import read_image


def _encoded(fmt: str) -> bytes:
    from skimage import data

    face = np.ascontiguousarray(data.astronaut()[0:96, 150:246, ::-1])  # small: fast to fuzz
    ok, buf = cv2.imencode(fmt, face)
    assert ok
    return buf.tobytes()


JPEG = _encoded(".jpg")
PNG = _encoded(".png")
SAMPLES = {"jpeg": JPEG, "png": PNG, "bmp": _encoded(".bmp"), "tiff": _encoded(".tiff"),
           "webp": _encoded(".webp")}


def check(data: bytes) -> None:
    """The contract: a proper frame, or ImageError with a message."""
    try:
        frame = read_image(data)
    except ImageError as exc:
        assert str(exc).strip(), "an ImageError without a message"
        return
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] >= 1 and frame.shape[1] >= 1


def test_the_samples_themselves_decode():
    for name, data in SAMPLES.items():
        frame = read_image(data)
        assert frame.shape == (96, 96, 3), name


@settings(max_examples=150)
@given(st.binary(max_size=4096))
@example(b"")
@example(b"\xff\xd8\xff")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"BM")
@example(b"GIF89a")
@example(b"II*\x00")
def test_random_bytes(data):
    check(data)


@settings(max_examples=150)
@given(st.sampled_from(sorted(SAMPLES)), st.floats(0.0, 1.0))
def test_truncated_real_files(fmt, fraction):
    data = SAMPLES[fmt]
    check(data[: int(len(data) * fraction)])


@settings(max_examples=200)
@given(st.sampled_from(sorted(SAMPLES)),
       st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)),
                min_size=1, max_size=12),
       st.booleans())
def test_bit_flipped_real_files(fmt, flips, in_header):
    data = bytearray(SAMPLES[fmt])
    span = min(len(data), 700) if in_header else len(data)  # the header decides the most
    for where, bit in flips:
        data[int(where * span)] ^= 1 << bit
    check(bytes(data))


def _png_with_size(width: int, height: int) -> bytes:
    """The real PNG with its IHDR declaring another size (CRC recomputed, so only the size
    is a lie)."""
    data = bytearray(PNG)
    ihdr = data.index(b"IHDR")
    data[ihdr + 4: ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr: ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17: ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def _bmp_with_size(width: int, height: int) -> bytes:
    """The real BMP with its info header declaring another size (negative height: top-down)."""
    data = bytearray(SAMPLES["bmp"])
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _jpeg_with_size(width: int, height: int) -> bytes:
    """The real JPEG with its frame header (SOF0) declaring another size."""
    data = bytearray(JPEG)
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


SIZES = st.integers(0, 65535)


@settings(max_examples=60)
@given(SIZES, SIZES)
@example(65535, 65535)
@example(0, 10)
@example(1, 65535)
def test_huge_or_zero_declared_sizes(width, height):
    check(_jpeg_with_size(width, height))
    check(_png_with_size(width, height))
    check(_bmp_with_size(width, -height))


@pytest.mark.parametrize("declared", [(65535, 65535), (50_000, 50_000), (2**31 - 1, 1)])
def test_huge_declared_png_is_refused_as_too_large(declared):
    """A PNG claiming billions of pixels is refused from its header (not decoded)."""
    width, height = declared
    with pytest.raises(ImageError, match="too large|cannot be read|damaged"):
        read_image(_png_with_size(width, height))
