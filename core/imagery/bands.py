"""Derived input bands and the network's input stack: one implementation for training and inference.

Training patches and inference windows are both built by :func:`build_stack`, so the
brightness index, the slope and the normalization a model sees at run time are exactly
those it was trained on (tests pin this).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..model.spec import ModelSpec, normalize

def brightness_index(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """Brightness index BI = sqrt((R² + G² + B²) / 3), in the units of the inputs.

    Mathieu, R., Pouget, M., Cervelle, B., Escadafal, R. (1998). Relationships between
    satellite-based radiometric indices simulated using laboratory reflectance data and
    typic soil color of an arid environment. Remote Sensing of Environment 66, 17-28.
    Fresh landslide scars expose bright bare soil and rock, which BI separates from
    vegetation better than any single visible band.
    """
    r = red.astype(np.float32, copy=False)
    g = green.astype(np.float32, copy=False)
    b = blue.astype(np.float32, copy=False)
    return np.sqrt((r * r + g * g + b * b) / np.float32(3.0))


def slope_degrees(dem: np.ndarray, x_spacing, y_spacing) -> np.ndarray:
    """Slope in degrees from a DEM (Horn's 3x3 method, as ``gdaldem slope``).

    ``x_spacing`` / ``y_spacing`` are the ground size of a pixel in the DEM's height
    units (metres), as scalars or as per-row columns of shape (rows, 1) for a
    geographic grid. Edges use replicated neighbours, so pass an array with a one-pixel
    halo and crop it when the exact value at a window edge matters.
    """
    z = np.pad(dem.astype(np.float32, copy=False), 1, mode="edge")
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dz_dx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * np.asarray(x_spacing, dtype=np.float32))
    dz_dy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * np.asarray(y_spacing, dtype=np.float32))
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))).astype(np.float32)


def build_stack(
    spec: ModelSpec, image_bands: Mapping[str, np.ndarray], slope: np.ndarray | None = None
) -> np.ndarray:
    """The normalized (bands, rows, cols) float32 input the model's spec asks for.

    ``image_bands`` maps image band names (red, green, blue, nir) to 2-D arrays;
    ``slope`` is the slope in degrees on the same grid when the spec needs it.
    """
    first = next(iter(image_bands.values())) if image_bands else slope
    stack = np.empty((len(spec.bands), *first.shape), dtype=np.float32)
    for i, name in enumerate(spec.bands):
        if name == "brightness":
            stack[i] = brightness_index(image_bands["red"], image_bands["green"], image_bands["blue"])
        elif name == "slope":
            if slope is None:
                raise ValueError("this model needs a slope band: give a DEM")
            stack[i] = slope
        else:
            stack[i] = image_bands[name]
    return normalize(stack, spec)
