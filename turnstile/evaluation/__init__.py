"""Accuracy evaluation of the real pipeline on standard protocols."""
