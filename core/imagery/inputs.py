"""The model's input for any window of the image: bands picked, derived, normalized."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..engine.windows import reflect_indices
from ..errors import InputError
from ..imagery.bands import build_stack, slope_degrees
from ..io.readers import RasterReader
from ..io.resolution import ground_pixel_size
from ..model.spec import ModelSpec


class ModelInput:
    """Builds normalized model input for windows of ``image``, which may reach past the
    raster's edges (those pixels are mirrored, see :mod:`core.engine.windows`).

    ``band_numbers`` maps image band names (red, green, blue, nir) to 1-based band
    numbers; ``scaling`` (see :mod:`core.imagery.scaling`) maps the image's values onto the
    range the model was trained on, the same for every window; ``dem`` must be on the image's grid with a one-pixel border (see
    :func:`core.io.readers.dem_on_grid`).
    """

    def __init__(
        self,
        spec: ModelSpec,
        image: RasterReader,
        band_numbers: Mapping[str, int],
        dem: RasterReader | None = None,
        scaling=None,
        original: RasterReader | None = None,
    ):
        self.spec = spec
        # the image at its own resolution when ``image`` reads it resampled to the model's
        # (core.io.resolution): Detect writes its outputs on this one's grid
        self.original = original
        self.scaling = scaling  # a core.imagery.scaling.BandScaling over spec.image_bands, or None
        self.image = image
        self.grid = image.grid
        self.check_bands(spec, image, band_numbers)
        if spec.needs_dem and dem is None:
            raise InputError(f"The model '{spec.name}' uses slope: give a DEM (elevation raster) covering the image.",
                             "dem")
        if dem is not None and (dem.grid.width, dem.grid.height) != (self.grid.width + 2, self.grid.height + 2):
            raise InputError("The DEM must be resampled onto the image grid first (core.io.readers.dem_on_grid).")
        if not self.grid.crs_wkt:
            raise InputError("The image has no coordinate reference system: assign one so the outputs can be placed "
                             "on the map and areas measured.", "crs")
        self.image_band_names = spec.image_bands
        self.image_band_numbers = [band_numbers[name] for name in spec.image_bands]
        self.dem = dem if spec.needs_dem else None
        self._is_geographic = self.grid.is_geographic

    @staticmethod
    def check_bands(spec: ModelSpec, image: RasterReader, band_numbers: Mapping[str, int]) -> None:
        """Raise :class:`InputError` unless ``image`` has every band ``spec`` reads."""
        missing = [name for name in spec.image_bands if name not in band_numbers]
        if missing:
            raise InputError(f"The model needs the {', '.join(missing)} band(s): say which image band holds each.")
        needed = len(spec.image_bands)
        if image.band_count < needed:
            raise InputError(
                f"The model '{spec.name}' reads {needed} image bands ({', '.join(spec.image_bands)}), but the image "
                f"has {image.band_count} band(s){' (a panchromatic or single-band image?)' if image.band_count == 1 else ''}"
                f": choose an image with {', '.join(spec.image_bands)} bands, or stack them into one raster first."
            )
        for name in spec.image_bands:
            number = band_numbers[name]
            if not 1 <= number <= image.band_count:
                raise InputError(
                    f"The {name} band is set to band {number}, but the image has "
                    f"{image.band_count} band(s): choose a band between 1 and {image.band_count}.", name)

    @property
    def reads_in_any_thread(self) -> bool:
        """Whether windows may be read in a helper thread (see RasterReader)."""
        return all(reader.reads_in_any_thread for reader in (self.image, self.dem) if reader)

    def release_cache(self) -> None:
        self.image.release_cache()
        if self.dem is not None:
            self.dem.release_cache()

    def read(self, x0: int, y0: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalized (bands, height, width) float32 stack and validity mask of a window.

        Invalid pixels are set to 0 (the band's mean after normalization); the engine
        then continues the nearest valid pixels into them, window by window (see
        :func:`core.engine.windows.fill_from_nearest_valid`).
        """
        image_bands, slope, valid = self.read_sources(x0, y0, width, height)
        stack = build_stack(self.spec, image_bands, slope)
        if not valid.all():  # the common window is all valid: no mask pass over every band
            stack[:, ~valid] = 0.0
        return stack, valid

    def read_sources(self, x0: int, y0: int, width: int, height: int):
        """The window's raw image bands (name -> float32 array), slope in degrees (or
        None) and validity: what :func:`core.imagery.bands.build_stack` turns into model input.
        Training cuts its patches from rasters with this too."""
        rows = reflect_indices(y0, y0 + height, self.grid.height)
        cols = reflect_indices(x0, x0 + width, self.grid.width)
        r0, c0 = int(rows.min()), int(cols.min())
        rh, cw = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
        inside = 0 <= y0 and y0 + height <= self.grid.height and 0 <= x0 and x0 + width <= self.grid.width
        # a window inside the raster is read as it is; only one over an edge needs its mirror gathered
        take = np.s_[:, :] if inside else np.ix_(rows - r0, cols - c0)

        pixels, valid = self.image.read(self.image_band_numbers, c0, r0, cw, rh)
        if self.scaling is not None:
            pixels = np.stack([self.scaling.apply(i, band) for i, band in enumerate(pixels)])
        image_bands = {name: pixels[i][take] for i, name in enumerate(self.image_band_names)}
        valid = valid[take]
        slope = None
        if self.dem is not None:
            slope, slope_valid = self._slope(c0, r0, cw, rh)
            slope = slope[take]
            valid &= slope_valid[take]
        return image_bands, slope, valid

    def _slope(self, c0: int, r0: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Slope of raster pixels [r0, r0+height) x [c0, c0+width), and where it is valid.

        Slope is computed on the real raster and only then mirrored with the image: a
        mirrored DEM would have a flat crease at the raster's edge. The DEM is read with
        one pixel more on each side (its grid has that border, see dem_on_grid); where
        that border lies outside the DEM, the nearest row or column stands in for it.
        """
        elevation, known = self.dem.read([1], c0, r0, width + 2, height + 2)
        z = elevation[0]
        for edge, inner in ((0, 1), (-1, -2)):
            z[edge] = np.where(known[edge], z[edge], z[inner])
            known[edge] |= known[inner]
            z[:, edge] = np.where(known[:, edge], z[:, edge], z[:, inner])
            known[:, edge] |= known[:, inner]
        dx, dy = ground_pixel_size(self.grid.geotransform, self._is_geographic, np.arange(r0 - 1, r0 + height + 1))
        slope = slope_degrees(z, dx, dy)[1:-1, 1:-1]
        return slope, _all_neighbours_valid(known)


def _all_neighbours_valid(valid: np.ndarray) -> np.ndarray:
    """For the inner pixels of ``valid``: whether all 9 pixels around each are valid."""
    out = np.ones((valid.shape[0] - 2, valid.shape[1] - 2), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            out &= valid[dy : dy + out.shape[0], dx : dx + out.shape[1]]
    return out
