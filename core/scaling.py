"""Input radiometry: bring any image onto the value range the model was trained on.

The bundled models learned on 8-bit display values. A 12/16-bit Pleiades or WorldView
scene, or reflectances stored as floats, must be mapped onto that range first, with one
linear stretch per band computed once for the whole raster: a stretch per window would
give each window its own brightness and break the seamless blend.

The stretch maps each band's robust range (2nd-98th percentile of a sample spread over
the whole raster) onto the same percentiles of the training imagery, which the spec
records as ``input_percentiles`` ({"low": [...], "high": [...]} per image band, red,
green, blue, nir order as the model reads them); without them, onto 0-255.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .inputs import InputError
from .readers import RasterReader
from .spec import ModelSpec

AUTO, NONE, MANUAL = "auto", "none", "manual"
MODES = (AUTO, NONE, MANUAL)
PERCENTILES = (2.0, 98.0)
SAMPLE_WINDOWS = 8  # per axis: 64 windows spread evenly over the raster
SAMPLE_SIZE = 128


@dataclass(frozen=True)
class BandScaling:
    """values -> (values - low) / (high - low) * (target_high - target_low) + target_low, per band."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    target_low: tuple[float, ...]
    target_high: tuple[float, ...]

    def apply(self, i: int, values: np.ndarray) -> np.ndarray:
        span = max(self.high[i] - self.low[i], 1e-12)
        gain = (self.target_high[i] - self.target_low[i]) / span
        return ((values - np.float32(self.low[i])) * np.float32(gain) + np.float32(self.target_low[i])).astype(
            np.float32, copy=False)

    def describe(self, names) -> str:
        return "; ".join(f"{name} {lo:g}..{hi:g} -> {tlo:g}..{thi:g}" for name, lo, hi, tlo, thi in zip(
            names, self.low, self.high, self.target_low, self.target_high))


def training_range(spec: ModelSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The training imagery's 2nd/98th percentiles per image band, or 0-255."""
    recorded = spec.extra.get("input_percentiles") or {}
    n = len(spec.image_bands)
    low, high = recorded.get("low"), recorded.get("high")
    if isinstance(low, list) and isinstance(high, list) and len(low) == len(high) == n:
        return tuple(float(v) for v in low), tuple(float(v) for v in high)
    return (0.0,) * n, (255.0,) * n


def sample_pixels(reader: RasterReader, bands, windows: int = SAMPLE_WINDOWS, size: int = SAMPLE_SIZE) -> np.ndarray:
    """Valid pixels of windows spread evenly over the whole raster: (bands, n)."""
    grid = reader.grid
    size_x, size_y = min(size, grid.width), min(size, grid.height)
    xs = np.unique(np.linspace(0, grid.width - size_x, windows).round().astype(int))
    ys = np.unique(np.linspace(0, grid.height - size_y, windows).round().astype(int))
    chunks = []
    for y0 in ys:
        for x0 in xs:
            values, valid = reader.read(list(bands), int(x0), int(y0), size_x, size_y)
            if valid.any():
                chunks.append(values[:, valid])
    if not chunks:
        raise InputError("No valid pixel was found in a sample of the image: is it all nodata?")
    return np.concatenate(chunks, axis=1)


def robust_scaling(reader: RasterReader, bands, spec: ModelSpec) -> BandScaling:
    sample = sample_pixels(reader, bands)
    low, high = np.percentile(sample, PERCENTILES, axis=1)
    target_low, target_high = training_range(spec)
    return BandScaling(tuple(float(v) for v in low), tuple(float(v) for v in high), target_low, target_high)


def manual_scaling(spec: ModelSpec, minimum: float, maximum: float) -> BandScaling:
    if not math.isfinite(minimum) or not math.isfinite(maximum) or maximum <= minimum:
        raise InputError(f"Manual input scaling needs a minimum below the maximum (got {minimum} and {maximum}).")
    n = len(spec.image_bands)
    return BandScaling((minimum,) * n, (maximum,) * n, (0.0,) * n, (255.0,) * n)


def choose_scaling(mode: str, reader: RasterReader, bands, spec: ModelSpec,
                   minimum: float | None = None, maximum: float | None = None) -> BandScaling | None:
    """The scaling for ``mode``: ``auto`` leaves 8-bit images as they are and stretches
    any other; ``none`` never scales; ``manual`` maps [minimum, maximum] onto 0-255."""
    if mode == NONE:
        return None
    if mode == MANUAL:
        if minimum is None or maximum is None:
            raise InputError("Manual input scaling needs both a minimum and a maximum value.")
        return manual_scaling(spec, minimum, maximum)
    if mode != AUTO:
        raise InputError(f"Unknown input scaling '{mode}': use one of {', '.join(MODES)}.")
    if all(reader.band_is_byte(number) for number in bands):
        return None
    return robust_scaling(reader, bands, spec)
