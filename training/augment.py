"""The method's augmentations, applied identically to every band and to the mask.

Horizontal/vertical flips, Gaussian blur (sigma 0-3), sharpening (alpha 0-1), shear
(±20°) and rotation (45°, 90°). Blur and sharpening change radiometry, so they touch the
image bands only, not slope; geometric changes apply to all bands and to the mask
(nearest neighbour, so it stays binary). Borders uncovered by a rotation or shear are
mirrored, as Detect mirrors the raster's borders.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.model.spec import IMAGE_BANDS


def augment(sources: dict[str, np.ndarray], mask: np.ndarray, rng: np.random.Generator):
    """A randomly augmented copy of a patch: (sources, mask)."""
    out = {name: band.astype(np.float32, copy=True) for name, band in sources.items()}
    mask = mask.copy()
    if rng.random() < 0.5:
        out = {k: v[:, ::-1] for k, v in out.items()}
        mask = mask[:, ::-1]
    if rng.random() < 0.5:
        out = {k: v[::-1] for k, v in out.items()}
        mask = mask[::-1]

    photometric = rng.random()
    if photometric < 1 / 3:
        sigma = rng.uniform(0.0, 3.0)
        out = {k: ndimage.gaussian_filter(v, sigma) if k in IMAGE_BANDS else v for k, v in out.items()}
    elif photometric < 2 / 3:
        alpha = rng.uniform(0.0, 1.0)
        out = {k: sharpen(v, alpha) if k in IMAGE_BANDS else v for k, v in out.items()}

    geometric = rng.random()
    if geometric < 0.2:
        k = int(rng.integers(1, 4))
        out = {name: np.rot90(v, k) for name, v in out.items()}
        mask = np.rot90(mask, k)
    elif geometric < 0.4:
        out, mask = _affine(out, mask, rotation_matrix(45.0 * rng.choice([-1, 1])))
    elif geometric < 0.6:
        out, mask = _affine(out, mask, shear_matrix(rng.uniform(-20.0, 20.0)))
    return {k: np.ascontiguousarray(v) for k, v in out.items()}, np.ascontiguousarray(mask)


def sharpen(band: np.ndarray, alpha: float) -> np.ndarray:
    """Unsharp masking: band + alpha * (band - blurred band), kept non-negative."""
    return np.maximum(band + alpha * (band - ndimage.gaussian_filter(band, 1.0)), 0.0)


def rotation_matrix(degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def shear_matrix(degrees: float) -> np.ndarray:
    return np.array([[1.0, 0.0], [np.tan(np.radians(degrees)), 1.0]])


def _affine(sources, mask, matrix):
    centre = (np.array(mask.shape) - 1) / 2.0
    offset = centre - matrix @ centre

    def warp(a, order):
        return ndimage.affine_transform(a, matrix, offset=offset, order=order, mode="mirror")

    return {k: warp(v, 1) for k, v in sources.items()}, warp(mask, 0)
