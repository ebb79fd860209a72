"""The method's augmentations, applied identically to every band and to the mask.

Horizontal/vertical flips, Gaussian blur (sigma 0-3), sharpening (alpha 0-1), shear
(±20°) and rotation (45°, 90°). Blur and sharpening change radiometry, so they touch the
image bands only, not slope; geometric changes apply to all bands and to the mask
(nearest neighbour, so it stays binary). Borders uncovered by a rotation or shear are
mirrored, as Detect mirrors the raster's borders.

With ``field=True`` (:func:`field_jitter`) also what imagery a mapper brings does to a
patch: another ground resolution (0.6-1.5x: imagery comes at 0.3-2 m), another sensor's
colour response and exposure, haze, and nodata along a border (a scene's collar).

Nodata, simulated or the raster's own (a mosaic's gutters and collars), is one thing
(:func:`as_nodata`): filled the way Detect fills a window, and marked :data:`IGNORE` in
the mask, which the loss leaves out: Detect writes no probability there, so it is
neither landslide nor landslide-free ground to learn from.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.engine.windows import fill_from_nearest_valid
from ..core.model.spec import IMAGE_BANDS

SCALES = (0.6, 1.5)  # ground resolution factors, log-uniform
#: a mask value for pixels without data: neither landslide (1) nor landslide-free (0)
IGNORE = 255


def augment(sources: dict[str, np.ndarray], mask: np.ndarray, rng: np.random.Generator, field: bool = False):
    """A randomly augmented copy of a patch: (sources, mask); ``field``: :func:`field_jitter` too."""
    out = {name: band.astype(np.float32, copy=True) for name, band in sources.items()}
    mask = mask.copy()
    if field:
        out, mask = field_jitter(out, mask, rng)
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


def field_jitter(sources: dict[str, np.ndarray], mask: np.ndarray, rng: np.random.Generator):
    """Scale, colour, haze and a nodata collar, each drawn at random (see the module)."""
    if rng.random() < 0.5:
        zoom = float(np.exp(rng.uniform(*np.log(SCALES))))
        sources, mask = _affine(sources, mask, np.eye(2) / zoom)
    image = [name for name in sources if name in IMAGE_BANDS]
    if image and rng.random() < 0.8:
        level = float(np.mean([sources[name].mean() for name in image]))
        contrast, offset = rng.uniform(0.75, 1.25), rng.uniform(-0.15, 0.15) * level
        haze = rng.uniform(0.0, 0.3) if rng.random() < 0.3 else 0.0
        bright = float(max(np.percentile(sources[name], 99) for name in image))
        for name, gain in zip(image, rng.uniform(0.85, 1.15, len(image))):
            band = (sources[name] * gain - level) * contrast + level + offset
            sources[name] = np.maximum(band * (1.0 - haze) + bright * haze, 0.0)
    if rng.random() < 0.15:
        valid = np.ones(mask.shape, bool)
        width = max(1, int(rng.uniform(0.1, 0.4) * mask.shape[0]))
        side = int(rng.integers(4))
        strip = [np.s_[:width, :], np.s_[-width:, :], np.s_[:, :width], np.s_[:, -width:]][side]
        valid[strip] = False
        sources, mask = as_nodata(sources, mask, valid)
    return sources, mask


def as_nodata(sources: dict[str, np.ndarray], mask: np.ndarray, valid: np.ndarray):
    """(sources, mask) with the pixels outside ``valid`` as Detect has them (:func:`filled`)
    and the mask saying :data:`IGNORE` there."""
    return filled(sources, valid), np.where(valid, mask, IGNORE).astype(np.uint8)


def filled(sources: dict[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    """The bands with each pixel outside ``valid`` continuing the nearest valid pixels:
    core's fill_from_nearest_valid, what Detect feeds the network there."""
    names = list(sources)
    return dict(zip(names, fill_from_nearest_valid(np.stack([sources[n] for n in names]), valid)))


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
