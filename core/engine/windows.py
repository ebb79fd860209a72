"""Sliding windows: the grid, the blending weights, and reflect padding at the borders.

Along each axis the raster is extended by a reflected margin of ``overlap // 2`` pixels
so border pixels are never at a window's edge (where a CNN's zero padding makes it least
reliable); windows of ``window`` pixels then step by ``window - overlap`` across the
extended axis, which is padded further at its end so a whole number of steps fits.
Neighbouring windows are blended with weights that rise smoothly from ~0 at a window's
edge to 1 over the overlap, and the result is divided by the summed weight: a pixel's
value moves continuously from one window's prediction to the next, so no seam shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AxisGrid:
    """Window positions along one axis of ``length`` pixels."""

    length: int
    window: int
    overlap: int

    def __post_init__(self):
        if self.window <= 0 or not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be between 0 and the window size minus 1 (window {self.window}, overlap {self.overlap})")

    @property
    def margin(self) -> int:
        """Reflected pixels before the first raster pixel."""
        return self.overlap // 2

    @property
    def stride(self) -> int:
        return self.window - self.overlap

    @property
    def count(self) -> int:
        return max(1, math.ceil((self.length + 2 * self.margin - self.window) / self.stride) + 1)

    @property
    def padded_length(self) -> int:
        return (self.count - 1) * self.stride + self.window

    def start(self, index: int) -> int:
        """Raster coordinate of window ``index``'s first pixel (negative in the margin)."""
        return index * self.stride - self.margin

    def covering(self, start: int, stop: int) -> tuple[int, int]:
        """First and last index of the windows that touch raster pixels ``start..stop-1``."""
        first = max(0, (start + self.margin - self.window) // self.stride + 1)
        last = min(self.count - 1, (stop - 1 + self.margin) // self.stride)
        return first, last

    def weight_sum(self) -> np.ndarray:
        """Summed blending weight over the padded axis (the blend is separable)."""
        total = np.zeros(self.padded_length, dtype=np.float32)
        w = blend_weights_1d(self.window, self.overlap)
        for i in range(self.count):
            total[i * self.stride : i * self.stride + self.window] += w
        return total


@dataclass(frozen=True)
class Region:
    """A block of raster pixels: columns ``col0..col0+width-1``, rows ``row0..row0+height-1``."""

    col0: int
    row0: int
    width: int
    height: int


def blend_weights_1d(window: int, overlap: int) -> np.ndarray:
    """1 in the middle, sin² ramps over ``overlap`` pixels at both ends, never exactly 0.

    Two sin² ramps offset by the overlap sum to a constant, so the blend is a partition
    of unity wherever two windows meet.
    """
    w = np.ones(window, dtype=np.float32)
    if overlap > 0:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap, dtype=np.float64) + 0.5) / overlap) ** 2
        w[:overlap] = ramp
        w[window - overlap :] = np.minimum(w[window - overlap :], ramp[::-1])
    return w


def blend_weights_2d(window: int, overlap: int) -> np.ndarray:
    w = blend_weights_1d(window, overlap)
    return np.outer(w, w)


def reflect_indices(start: int, stop: int, length: int) -> np.ndarray:
    """Indices ``start..stop-1`` folded into ``[0, length)`` by mirror reflection.

    Same rule as ``numpy.pad(mode="reflect")`` (the edge pixel is not repeated), but
    for any distance past the edge, so rasters smaller than a window work.
    """
    idx = np.arange(start, stop)
    if length == 1:
        return np.zeros_like(idx)
    period = 2 * (length - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= length, period - idx, idx)


def fill_from_nearest_valid(stack: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``stack`` (bands, rows, cols) with each invalid pixel given the values of the nearest
    valid pixel in its row (rows without one: of the nearest row that has one), as a
    mirror would continue the image. A flat constant is a texture the networks never saw
    in training; on a scene with nodata gutters it cost 0.02-0.03 F1. No valid pixel: 0."""
    if valid.all():
        return stack
    if not valid.any():
        return np.zeros_like(stack)
    rows, cols = valid.shape
    positions = np.arange(cols)
    before = np.maximum.accumulate(np.where(valid, positions, -1), axis=1)
    after = np.minimum.accumulate(np.where(valid, positions, cols)[:, ::-1], axis=1)[:, ::-1]
    take_before = (before >= 0) & ((after >= cols) | (positions - before <= after - positions))
    source_cols = np.clip(np.where(take_before, before, after), 0, cols - 1)
    row_has_valid = valid.any(axis=1)
    lines = np.arange(rows)
    above = np.maximum.accumulate(np.where(row_has_valid, lines, -1))
    below = np.minimum.accumulate(np.where(row_has_valid, lines, rows)[::-1])[::-1]
    source_rows = np.where((above >= 0) & ((below >= rows) | (lines - above <= below - lines)), above, below)
    filled = stack[:, source_rows[:, None], source_cols[source_rows]]
    return np.where(valid[None], stack, filled)
