"""Typed errors. Each says plainly what is wrong, in words a front-desk user can act on.

Messages never contain biometric data (embeddings, pixels) or secrets.
"""

from __future__ import annotations


class TurnstileError(Exception):
    """Base of every error Turnstile raises on purpose."""


class ImageError(TurnstileError):
    """An image could not be read or is not usable as a photo."""


class ModelFileError(TurnstileError):
    """A shipped model file is missing, unreadable or not the expected file."""


class NoFaceError(TurnstileError):
    """No face was found where exactly one was needed."""


class MultipleFacesError(TurnstileError):
    """More than one face was found where exactly one was needed."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count
