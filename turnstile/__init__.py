"""Turnstile: an offline desktop app that opens a door for the right face."""

__version__ = "0.1.0"
