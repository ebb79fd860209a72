"""The grid two landslide maps are scored on, and a sentence saying which and why.

The prediction raster's grid, else the reference raster's, else (two polygon layers) a
grid of the requested pixel size over both; optionally cropped to an extent. A map that
does not meet the grid is refused: scoring it would report a perfect miss.
"""

from __future__ import annotations

import math
from pathlib import Path

from osgeo import gdal, ogr

from ..errors import EXTENT_OUTSIDE, NO_CRS, PIXEL_SIZE_NEEDED, EvaluationError
from ..io.readers import GdalReader, Grid, crop_window, srs_from, sub_grid, transform_bounds
from ..io.vectors import LandslideMap, describe_crs, open_layer

gdal.UseExceptions()
ogr.UseExceptions()


def scoring_grid(prediction: LandslideMap, reference: LandslideMap, pixel_size: float | None) -> tuple[Grid, str]:
    """The grid both maps are scored on, and a sentence that says which and why."""
    for name, candidate in (("prediction", prediction), ("reference", reference)):
        if candidate.is_raster:
            grid = GdalReader(candidate.path).grid
            if not grid.crs_wkt:
                raise EvaluationError(NO_CRS, name, Path(candidate.path).name)
            return grid, (f"Scored on the {name} raster's grid ({describe_grid(grid)}).")
    if not pixel_size or pixel_size <= 0:
        raise EvaluationError(PIXEL_SIZE_NEEDED, "pixel_size")
    layer_srs, bounds = layer_extent(prediction, "prediction")
    wkt = layer_srs.ExportToWkt()
    _, ref_bounds = layer_extent(reference, "reference", wkt)
    xmin, ymin = min(bounds[0], ref_bounds[0]), min(bounds[1], ref_bounds[1])
    xmax, ymax = max(bounds[2], ref_bounds[2]), max(bounds[3], ref_bounds[3])
    xmin, ymin = math.floor(xmin / pixel_size) * pixel_size, math.floor(ymin / pixel_size) * pixel_size
    width = max(1, math.ceil((xmax - xmin) / pixel_size))
    height = max(1, math.ceil((ymax - ymin) / pixel_size))
    grid = Grid(width, height, (xmin, pixel_size, 0.0, ymin + height * pixel_size, 0.0, -pixel_size), wkt)
    return grid, f"Both maps are polygons: scored on a grid of {pixel_size:g} units over both ({describe_grid(grid)})."


def overlaps_grid(source: LandslideMap, grid: Grid, role: str) -> bool:
    """Whether the map's footprint meets the grid; an empty polygon layer (nothing
    mapped) always does."""
    if source.is_raster:
        own = GdalReader(source.path).grid
        bounds = transform_bounds(own.bounds, own.crs_wkt, grid.crs_wkt) if own.crs_wkt else own.bounds
    else:
        _dataset, layer, _srs = open_layer(source, role)
        if layer.GetFeatureCount() == 0:
            return True
        _, bounds = layer_extent(source, role, grid.crs_wkt)
    gxmin, gymin, gxmax, gymax = grid.bounds
    return bounds[0] < gxmax and bounds[2] > gxmin and bounds[1] < gymax and bounds[3] > gymin


def crop_to_extent(grid: Grid, extent: tuple[float, float, float, float, str]) -> Grid:
    """The part of ``grid`` (whole pixels) inside ``extent`` given in any CRS."""
    try:
        return sub_grid(grid, *crop_window(grid, extent))
    except ValueError:
        raise EvaluationError(EXTENT_OUTSIDE, "extent") from None


def describe_grid(grid: Grid) -> str:
    units = "°" if grid.is_geographic else " m" if srs_from(grid.crs_wkt).GetLinearUnits() == 1.0 else " units"
    gt = grid.geotransform
    return f"{describe_crs(grid.crs_wkt)}, {abs(gt[1]):g} x {abs(gt[5]):g}{units} pixels, {grid.width} x {grid.height}"


def layer_extent(source: LandslideMap, role: str, target_wkt: str | None = None):
    """(the layer's CRS, its bounds xmin, ymin, xmax, ymax), the bounds in ``target_wkt`` when given."""
    dataset, layer, srs = open_layer(source, role)
    xmin, xmax, ymin, ymax = layer.GetExtent()
    bounds = (xmin, ymin, xmax, ymax)
    if target_wkt:
        bounds = transform_bounds(bounds, srs.ExportToWkt(), target_wkt)
    return srs, bounds
