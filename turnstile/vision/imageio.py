"""Reading photos from files or bytes into BGR frames, safely.

OpenCV decodes (and applies the EXIF orientation, converts grayscale, RGBA and 16-bit to
8-bit BGR). Pillow is used only to look at the header first: OpenCV gives no way to learn an
image's size before committing memory to it, and it silently returns a partly grey picture
for a truncated JPEG. With the header read first, a 20000 x 20000 JPEG is decoded at a
reduced scale instead of exhausting memory, and a truncated file is refused.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from turnstile.errors import ImageError
from turnstile.vision.types import Frame

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest photo file accepted."""

MAX_DECODE_PIXELS = 48_000_000
"""Largest image decoded at full size (a 48 MP phone photo). Larger JPEGs are decoded at
1/2, 1/4 or 1/8 scale; larger images of other formats are refused."""

_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


def read_image(source: str | Path | bytes) -> Frame:
    """Read a photo into a BGR ``uint8 (H, W, 3)`` frame, upright per its EXIF orientation.

    Args:
        source: a file path, or the encoded bytes of a JPEG/PNG/BMP/TIFF/WebP image.

    Returns:
        The decoded frame (possibly reduced in scale for very large JPEGs).

    Raises:
        ImageError: the file is missing, unreadable, empty, too big, truncated, not an image,
            or of a format that cannot be decoded.
    """
    name = "the image" if isinstance(source, bytes) else str(source)
    data = source if isinstance(source, bytes) else _read_file(Path(source))
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")

    try:
        header = _open_header(data)
        width, height = header.size
        fmt = header.format or "unknown"
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image file (or of an unknown format).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name} cannot be read as an image: {exc}.") from None

    pixels = width * height
    flag = cv2.IMREAD_COLOR
    if pixels > MAX_DECODE_PIXELS:
        if fmt != "JPEG":
            raise ImageError(
                f"{name} is too large ({width} x {height} pixels); the limit is "
                f"{MAX_DECODE_PIXELS // 1_000_000} megapixels. Resize it and try again."
            )
        factor = next((f for f in (2, 4, 8) if pixels / (f * f) <= MAX_DECODE_PIXELS), 0)
        if not factor:
            raise ImageError(f"{name} is too large ({width} x {height} pixels).")
        flag = _REDUCED_FLAGS[factor]
        log.info("decoding a %dx%d JPEG at 1/%d scale", width, height, factor)

    _check_complete(data, fmt, width, height, name)
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if frame is None or frame.size == 0:
        raise ImageError(f"{name} ({fmt}) could not be decoded.")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.dtype != np.uint8:
        frame = (frame / 256).astype(np.uint8)
    return np.ascontiguousarray(frame[:, :, :3])


def _open_header(data: bytes) -> Image.Image:
    """Open lazily: Pillow reads the header only. Its own decompression-bomb guard is
    lifted here because :func:`read_image` applies its own limit (and decodes big JPEGs
    at a reduced scale instead of refusing them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # "Corrupt EXIF data", "Truncated File Read": the damage is reported (or harmless);
        # the warnings would only reach the terminal.
        warnings.simplefilter("ignore", UserWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(io.BytesIO(data))
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path} is too big ({size / 1e6:.0f} MB); the limit is "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MB."
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image file.") from None
    except PermissionError:
        raise ImageError(f"{path} cannot be read: permission denied.") from None
    except OSError as exc:
        raise ImageError(f"{path} cannot be read: {exc.strerror or exc}.") from None


def _check_complete(data: bytes, fmt: str, width: int, height: int, name: str) -> None:
    """Refuse truncated files, which OpenCV would decode into a partly grey picture."""
    try:
        image = _open_header(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # see _open_header
            if fmt == "JPEG":
                # Decoding at 1/8 scale reads every entropy-coded block but costs little.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
            else:
                image.verify()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name} is damaged or truncated ({exc}).") from None
