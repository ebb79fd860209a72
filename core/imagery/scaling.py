"""Input radiometry: bring any image onto the value range the model was trained on.

The bundled models learned on 8-bit display values. A 12/16-bit Pleiades or WorldView
scene, or reflectances stored as floats, must be mapped onto that range first, with one
linear map per band computed once for the whole raster: a map per window would give
each window its own brightness and break the seamless blend.

``auto`` uses the data's own scale wherever it is knowable, because a per-scene contrast
stretch turns bare soil, fields and roads into "landslides" (measured: a 12-bit copy of
an 8-bit scene marked 8.6 times as many pixels under a stretch):

- 8-bit bands: as they are;
- integer bands: the bit depth the file declares (GDAL's ``NBITS``), else the smallest
  common sensor depth (8, 10, 11, 12, 14, 16 bits) that holds the band maxima (from the
  file's statistics and a sample over the whole raster), mapped linearly onto 0-255. A
  16-bit file whose values stay under 4,096 is therefore read as 12-bit data: sensors
  store 11, 12 or 14 significant bits in 16-bit files far more often than a scene fills
  a quarter of its range;
- float bands within 0-1: reflectance, times 255; within 0-255: 8-bit values as they are;
- anything else (wider integers, floats of another range): the scale cannot be known,
  so each band's robust range (2nd-98th percentile of a sample over the whole raster) is
  mapped onto the same percentiles of the training imagery (the spec's
  ``input_percentiles``), or onto 0-255, and the run warns that this is a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, WordChoice
from ..io.readers import RasterReader
from ..model.spec import ModelSpec


class ScalingMode(WordChoice):
    """How the image's values are brought onto the model's range. A ``str``: each member is
    the word Detect's parameter and ``--scaling`` take, so those words need no translation."""

    AUTO = "auto"  # the data's own scale where it is knowable (see the module)
    NONE = "none"  # the values as they are
    MANUAL = "manual"  # a given minimum and maximum onto 0-255

    @classmethod
    def refusal(cls, word: str) -> InputError:
        return InputError(f"Unknown input scaling '{word}': use one of {', '.join(MODES)}.")


#: the words Detect's parameter and the command line offer
MODES = tuple(mode.value for mode in ScalingMode)
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
    reason: str = ""  # why this map: for the log
    guess: bool = False  # the data's scale was not knowable: the user should check the result

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
    recorded, n = spec.input_percentiles, len(spec.image_bands)
    if recorded is not None and len(recorded.low) == n:
        return recorded.low, recorded.high
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


def robust_scaling(sample: np.ndarray, spec: ModelSpec, reason: str) -> BandScaling:
    low, high = np.percentile(sample, PERCENTILES, axis=1)
    target_low, target_high = training_range(spec)
    onto = "the training imagery's" if spec.input_percentiles else "0-255 (the model records no training range)"
    return BandScaling(tuple(float(v) for v in low), tuple(float(v) for v in high), target_low, target_high,
                       f"{reason}: each band's 2nd-98th percentile stretched onto {onto}. This is a guess: check "
                       "the result, or give the data's range with manual scaling", guess=True)


BIT_DEPTHS = (8, 10, 11, 12, 14, 16)


def known_full_scale(storages, sample: np.ndarray) -> tuple[float | None, str]:
    """(the value that means full scale, why), or (None, what is unknown) when the data's
    own scale cannot be known."""
    kinds = {s.kind for s in storages}
    if kinds <= {"byte", "integer"}:
        declared = [s.bits for s in storages if s.bits]
        if declared:
            bits = max(declared)
            return 2.0**bits - 1, f"the file declares {bits}-bit values"
        recorded = [s.maximum for s in storages if s.maximum is not None]
        maximum = float(max([float(sample.max()), *recorded]))
        bits = next((b for b in BIT_DEPTHS if maximum <= 2**b - 1), None)
        if bits is None:
            return None, f"integer values up to {maximum:g}, beyond 16 bits"
        return 2.0**bits - 1, (f"integer values up to {maximum:g}: read as {bits}-bit data (the smallest common "
                               "sensor bit depth that holds them)")
    low, high = float(sample.min()), float(sample.max())
    if low >= -0.01 and high <= 1.0 + 1e-6:
        return 1.0, "float values within 0-1: read as reflectance"
    if low >= -0.5 and high <= 255.5:
        return 255.0, "float values within 0-255: read as 8-bit display values"
    return None, f"float values from {low:g} to {high:g}, of no known scale"


def manual_scaling(spec: ModelSpec, minimum: float, maximum: float) -> BandScaling:
    if not math.isfinite(minimum) or not math.isfinite(maximum) or maximum <= minimum:
        raise InputError(f"Manual input scaling needs a minimum below the maximum (got {minimum} and {maximum}).")
    n = len(spec.image_bands)
    return BandScaling((minimum,) * n, (maximum,) * n, (0.0,) * n, (255.0,) * n, "the range given")


def choose_scaling(mode: ScalingMode | str, reader: RasterReader, bands, spec: ModelSpec,
                   minimum: float | None = None, maximum: float | None = None) -> BandScaling | None:
    """The scaling for ``mode`` (a member or its word): ``auto`` as the module says (None for
    8-bit images); ``none`` never scales; ``manual`` maps [minimum, maximum] onto 0-255."""
    mode = ScalingMode.of(mode)
    if mode is ScalingMode.NONE:
        return None
    if mode is ScalingMode.MANUAL:
        if minimum is None or maximum is None:
            raise InputError("Manual input scaling needs both a minimum and a maximum value.")
        return manual_scaling(spec, minimum, maximum)
    storages = [reader.band_storage(number) for number in bands]
    if all(s.kind == "byte" for s in storages):
        return None
    sample = sample_pixels(reader, bands)
    full_scale, reason = known_full_scale(storages, sample)
    if full_scale is None:
        return robust_scaling(sample, spec, reason)
    n = len(list(bands))
    return BandScaling((0.0,) * n, (full_scale,) * n, (0.0,) * n, (255.0,) * n, reason)
