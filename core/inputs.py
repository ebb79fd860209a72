"""The model's input for any window of the image: bands picked, derived, normalized."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .bands import build_stack, ground_pixel_size, slope_degrees
from .readers import RasterReader
from .spec import ModelSpec
from .windows import reflect_indices


class InputError(ValueError):
    """The image, its bands or the DEM do not fit the model; the message says how."""


class ModelInput:
    """Builds normalized model input for windows of ``image``, which may reach past the
    raster's edges (those pixels are mirrored, see :mod:`core.windows`).

    ``band_numbers`` maps image band names (red, green, blue, nir) to 1-based band
    numbers; ``dem`` must be on the image's grid (see :func:`core.readers.dem_on_grid`).
    """

    def __init__(
        self,
        spec: ModelSpec,
        image: RasterReader,
        band_numbers: Mapping[str, int],
        dem: RasterReader | None = None,
    ):
        self.spec = spec
        self.image = image
        self.grid = image.grid
        missing = [name for name in spec.image_bands if name not in band_numbers]
        if missing:
            raise InputError(f"The model needs the {', '.join(missing)} band(s): say which image band holds each.")
        for name in spec.image_bands:
            number = band_numbers[name]
            if not 1 <= number <= image.band_count:
                raise InputError(
                    f"The {name} band is set to band {number}, but the image has "
                    f"{image.band_count} band(s): choose a band between 1 and {image.band_count}."
                )
        if spec.needs_dem and dem is None:
            raise InputError(f"The model '{spec.name}' uses slope: give a DEM (elevation raster) covering the image.")
        if dem is not None and (dem.grid.width, dem.grid.height) != (self.grid.width, self.grid.height):
            raise InputError("The DEM must be resampled onto the image grid first (core.readers.dem_on_grid).")
        if not self.grid.crs_wkt:
            raise InputError(
                "The image has no coordinate reference system: assign one (Layer Properties > Source) "
                "so the outputs can be placed on the map and areas measured."
            )
        self.image_band_names = spec.image_bands
        self.image_band_numbers = [band_numbers[name] for name in spec.image_bands]
        self.dem = dem if spec.needs_dem else None
        self._is_geographic = self.grid.is_geographic

    def read(self, x0: int, y0: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalized (bands, height, width) float32 stack and validity mask of a window.

        Invalid pixels are set to 0 (the band's mean after normalization) so they do
        not pull their neighbours' predictions towards an extreme value.
        """
        halo = 1 if self.dem is not None else 0  # slope needs one neighbour on each side
        rows = reflect_indices(y0 - halo, y0 + height + halo, self.grid.height)
        cols = reflect_indices(x0 - halo, x0 + width + halo, self.grid.width)
        r0, c0 = int(rows.min()), int(cols.min())
        rh, cw = int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1
        take = np.ix_(rows - r0, cols - c0)

        pixels, valid = self.image.read(self.image_band_numbers, c0, r0, cw, rh)
        image_bands = {name: pixels[i][take] for i, name in enumerate(self.image_band_names)}
        valid = valid[take]
        slope = None
        if self.dem is not None:
            elevation, dem_valid = self.dem.read([1], c0, r0, cw, rh)
            dx, dy = ground_pixel_size(self.grid.geotransform, self._is_geographic, rows)
            slope = slope_degrees(elevation[0][take], dx, dy)
            valid &= dem_valid[take]
            # a slope next to a DEM hole is meaningless
            valid[1:-1, 1:-1] &= _all_neighbours_valid(dem_valid[take])

        stack = build_stack(self.spec, image_bands, slope)
        if halo:
            stack, valid = stack[:, halo:-halo, halo:-halo], valid[halo:-halo, halo:-halo]
        stack[:, ~valid] = 0.0
        return np.ascontiguousarray(stack), valid


def _all_neighbours_valid(valid: np.ndarray) -> np.ndarray:
    out = np.ones((valid.shape[0] - 2, valid.shape[1] - 2), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            out &= valid[dy : dy + out.shape[0], dx : dx + out.shape[1]]
    return out
