"""Reading photos: every kind of bad input gets a clear ImageError; odd formats just work."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from turnstile.errors import ImageError
from turnstile.vision import imageio
from turnstile.vision.imageio import read_image


def _jpeg(bgr: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(bgr[:, :, ::-1]).save(buf, "JPEG", quality=92, **kwargs)
    return buf.getvalue()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nobody.jpg")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n" * 50)
    with pytest.raises(ImageError, match="not an image"):
        read_image(path)


def test_truncated_jpeg_is_refused(tmp_path, astronaut_bgr):
    data = _jpeg(astronaut_bgr)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(path)


def test_truncated_png_is_refused(tmp_path, astronaut_bgr):
    ok, png = cv2.imencode(".png", astronaut_bgr)
    path = tmp_path / "cut.png"
    path.write_bytes(png.tobytes()[: len(png) // 2])
    with pytest.raises(ImageError):
        read_image(path)


def test_one_pixel_image_decodes(tmp_path):
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), np.full((1, 1, 3), 200, np.uint8))
    frame = read_image(path)
    assert frame.shape == (1, 1, 3) and frame.dtype == np.uint8


def test_huge_png_is_refused_without_decoding(tmp_path):
    # 20000 x 20000 bilevel PNG: a few hundred kB on disk, 1.2 GB once decoded to BGR.
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path, optimize=False)
    with pytest.raises(ImageError, match="too large"):
        read_image(path)


def test_large_jpeg_is_decoded_reduced(tmp_path, astronaut_bgr, monkeypatch):
    # A JPEG over the pixel limit is decoded at a reduced scale rather than refused.
    monkeypatch.setattr(imageio, "MAX_DECODE_PIXELS", 100_000)
    path = tmp_path / "big.jpg"
    path.write_bytes(_jpeg(astronaut_bgr))  # 512 x 512 = 262,144 px
    frame = read_image(path)
    assert frame.shape == (256, 256, 3)


def test_huge_jpeg_does_not_exhaust_memory(tmp_path):
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "huge.jpg"
    Image.new("L", (20000, 20000), 128).save(path, quality=50)
    before = psutil.Process().memory_info().rss
    frame = read_image(path)
    grown_mb = (psutil.Process().memory_info().rss - before) / 1e6
    assert frame.shape[0] * frame.shape[1] <= imageio.MAX_DECODE_PIXELS
    assert grown_mb < 400, f"decoding grew memory by {grown_mb:.0f} MB"


@pytest.mark.parametrize("kind", ["gray", "rgba", "png16", "bytes"])
def test_odd_formats_decode_to_bgr(tmp_path, astronaut_bgr, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "gray":
        cv2.imwrite(str(path), cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY))
    elif kind == "rgba":
        cv2.imwrite(str(path), cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA))
    elif kind == "png16":
        cv2.imwrite(str(path), astronaut_bgr.astype(np.uint16) * 257)
    else:
        path.write_bytes(cv2.imencode(".png", astronaut_bgr)[1].tobytes())
    frame = read_image(path.read_bytes() if kind == "bytes" else path)
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    if kind != "gray":
        assert np.abs(frame.astype(int) - astronaut_bgr).mean() < 1.5


def test_exif_rotated_jpeg_comes_out_upright(tmp_path, astronaut_bgr):
    # A camera stores the sensor's pixels and says "rotate 90 degrees clockwise" in EXIF.
    sideways = np.ascontiguousarray(np.rot90(astronaut_bgr, k=1))  # 90 counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg(sideways, exif=exif.tobytes()))
    frame = read_image(path)
    assert frame.shape == astronaut_bgr.shape
    assert np.abs(frame.astype(int) - astronaut_bgr).mean() < 6
