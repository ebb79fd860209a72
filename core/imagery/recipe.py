"""The input recipe: from an image and a few plain options to the model's input.

Bands (given, else named by the raster, else 1-2-3), resolution matching (the model
runs at the ground resolution it learned at), the DEM policy (read only for models
that use slope, on the grid the model runs on) and one input scaling for the whole
image. Detect in QGIS, ``python -m core`` and every tile of a split run build their
input here, so an option means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..engine.progress import SILENT, Progress
from ..io.readers import RasterReader, band_numbers, dem_on_grid, picked_bands
from ..io.resolution import grid_for_model, pixel_size_m
from ..model.spec import ModelSpec
from . import scaling as input_scaling
from .inputs import InputError, ModelInput
from .scaling import BandScaling, ScalingMode

#: ``model_input``'s ``scaling`` when the options choose it (the default)
CHOOSE = "choose"


@dataclass(frozen=True)
class InputOptions:
    """How to read an image for a model, as plain values (picklable, comparable)."""

    bands: Mapping[str, int] = field(default_factory=dict)  # band numbers given by role; the rest as the module says
    dem: str | None = None  # elevation raster (any GDAL format), for models that use slope
    scaling: ScalingMode = ScalingMode.AUTO  # see core.imagery.scaling; its word ("auto", ...) is taken too
    scaling_min: float | None = None  # manual scaling: the value shown as black ...
    scaling_max: float | None = None  # ... and as white
    match_resolution: bool = True  # run at the model's training resolution (core.io.resolution)

    def __post_init__(self):
        object.__setattr__(self, "scaling", ScalingMode.of(self.scaling))  # frozen: set once, here


def pick_bands(image: RasterReader, given: Mapping[str, int], progress: Progress = SILENT) -> dict[str, int]:
    """Band numbers by role: those ``given``, else those the raster's band names say, else 1, 2, 3."""
    roles = image.band_roles()
    by_name = {k: v for k, v in picked_bands(roles).items() if k not in given}
    if by_name:
        progress.info("Bands picked by their names: " + ", ".join(f"{k} = band {v}" for k, v in by_name.items()) + ".")
    return band_numbers(roles, dict(given))


def model_input(options: InputOptions, spec: ModelSpec, image: RasterReader, whole_image: RasterReader | None = None,
                scaling: BandScaling | None | str = CHOOSE, progress: Progress = SILENT) -> ModelInput:
    """The model's input for ``image`` (the pixels to process: a whole raster, an extent
    of one, a layer read through its provider).

    ``whole_image`` (default ``image``) is what automatic scaling samples, so runs over
    several extents of one image share one scaling. ``scaling`` given (a split run's
    tiles get the one chosen for the whole raster) is used as it is. What was decided
    (bands picked by name, resampling, scaling) goes to ``progress.info``; a guessed
    scaling to ``progress.warn``.
    """
    numbers = pick_bands(image, options.bands, progress)
    ModelInput.check_bands(spec, image, numbers)
    original = None
    grid = grid_for_model(image, spec) if options.match_resolution else None
    if grid is not None:
        x, y = pixel_size_m(image.grid)
        progress.info(
            f"The image's pixels are {x:.2f} x {y:.2f} m; the model learned at {spec.resolution_m:g} m: it runs on "
            f"the image resampled to {grid.width} x {grid.height} pixels, and the outputs are written on the image's "
            "own grid (turn resolution matching off to run at the image's pixels).")
        original, image = image, image.on_grid(grid)
    dem = None
    if options.dem and not spec.needs_dem:
        progress.info(f"The model '{spec.name}' does not use slope: the DEM is not read.")
    elif options.dem:
        if not image.grid.crs_wkt:
            raise InputError("The image has no coordinate reference system: assign one so the DEM can be aligned to it.")
        dem = dem_on_grid(options.dem, image.grid)
    if scaling == CHOOSE:
        bands = [numbers[name] for name in spec.image_bands]
        scaling = input_scaling.choose_scaling(options.scaling, whole_image or original or image, bands, spec,
                                               options.scaling_min, options.scaling_max)
        if scaling is not None:
            (progress.warn if scaling.guess else progress.info)(
                f"Input scaling ({options.scaling}): {scaling.describe(spec.image_bands)} ({scaling.reason}).")
    return ModelInput(spec, image, numbers, dem, scaling, original=original)
