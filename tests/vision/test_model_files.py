"""A missing or corrupt model file gives one clear error naming the file and the sha256 it
expected; a real model file loads and reports its tensor contract."""

from __future__ import annotations

import shutil

import pytest

from turnstile import resources
from turnstile.errors import ModelFileError
from turnstile.vision.detector import SHORT_RANGE, BlazeFace
from turnstile.vision.embedder import FaceEmbedder


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError) as err:
        resources.model_path(resources.EMBEDDER, root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / resources.EMBEDDER.filename) in message
    assert resources.EMBEDDER.sha256 in message


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "empty"])
def test_corrupt_model_file(tmp_path, damage):
    src = resources.model_path(resources.EMBEDDER)
    dst = tmp_path / resources.EMBEDDER.filename
    data = bytearray(src.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray()
    dst.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        resources.model_path(resources.EMBEDDER, root=tmp_path)
    assert str(dst) in str(err.value) and resources.EMBEDDER.sha256 in str(err.value)


def test_unchecked_garbage_is_still_refused_by_the_loaders(tmp_path):
    # Even bypassing the sha256 check, the classes refuse a file that is not their model.
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(ModelFileError, match="junk.tflite"):
        FaceEmbedder(junk)
    with pytest.raises(ModelFileError, match="junk.tflite"):
        BlazeFace(junk, SHORT_RANGE)


def test_detector_file_in_the_embedder_slot_is_refused(tmp_path):
    other = tmp_path / "detector.tflite"
    shutil.copy(resources.model_path(resources.DETECTOR_SHORT_RANGE), other)
    with pytest.raises(ModelFileError, match="expected"):
        FaceEmbedder(other)


def test_shipped_embedder_contract():
    embedder = FaceEmbedder(resources.model_path(resources.EMBEDDER))
    assert embedder.chip_px == 150 and embedder.dim == 128


def test_the_app_has_an_icon():
    icon = resources.icon_path()
    assert icon is not None and icon.read_bytes().startswith(b"\x89PNG")
