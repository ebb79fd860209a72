"""Errors shared across the engine's modules."""


class Cancelled(Exception):
    """The user cancelled the run; outputs written so far have been removed."""


class NoValidPixels(ValueError):
    """Every pixel of the input is nodata."""
