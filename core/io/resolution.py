"""Ground resolution: run a model at the resolution it learned, write on the input's grid.

A CNN learns landslides as shapes of a certain size in pixels. Fed a 0.4 m or a 1.6 m
image, a model trained at 0.8 m sees scarps and bodies twice too big or too small and
misses them. When the spec records ``resolution_m`` and the input's pixels differ from
it by more than :data:`TOLERANCE`, the input is read resampled onto a grid of that
resolution over the same extent (area average when shrinking, bilinear when
enlarging; lazily, window by window), the model runs there, and the probabilities are
resampled back (bilinear) onto the input's grid, where the mask and polygons are made.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np
from osgeo import gdal

from ..io.outputs import VALUES_NODATA, RowsFn, ValueRasters, remove_dataset
from ..io.readers import Grid, RasterReader, srs_from
from ..model.spec import ModelSpec

gdal.UseExceptions()

TOLERANCE = 0.3  # relative: a 0.8 m model takes 0.56-1.04 m imagery as it is
STRIP_ROWS = 64

# WGS84 ellipsoid, for the ground size of a pixel in a geographic CRS.
_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def ground_pixel_size(geotransform, is_geographic: bool, rows: np.ndarray | None = None):
    """Ground size (metres) of a pixel: (x, y) scalars, or per-row columns when geographic.

    For a geographic CRS the degree sizes are converted with the WGS84 radii of
    curvature at each row's latitude, so slope stays right away from the equator.
    """
    px = math.hypot(geotransform[1], geotransform[2])
    py = math.hypot(geotransform[4], geotransform[5])
    if not is_geographic:
        return px, py
    if rows is None:
        raise ValueError("rows are needed for a geographic grid")
    lat = np.radians(geotransform[3] + (rows.astype(np.float64) + 0.5) * geotransform[5])
    w = 1.0 - _WGS84_E2 * np.sin(lat) ** 2
    prime_vertical = _WGS84_A / np.sqrt(w)
    meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    x = np.radians(px) * prime_vertical * np.cos(lat)
    y = np.radians(py) * meridional
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)


def pixel_size_m(grid: Grid) -> tuple[float, float]:
    """A pixel's ground size in metres (x, y), at the raster's middle row when geographic."""
    if grid.is_geographic:
        x, y = ground_pixel_size(grid.geotransform, True, np.array([grid.height // 2]))
        return float(x[0, 0]), float(y[0, 0])
    metres_per_unit = srs_from(grid.crs_wkt).GetLinearUnits() or 1.0
    x, y = ground_pixel_size(grid.geotransform, False)
    return x * metres_per_unit, y * metres_per_unit


def model_grid(grid: Grid, resolution_m: float, tolerance: float = TOLERANCE) -> Grid | None:
    """``grid``'s extent at ``resolution_m``, or None when its pixels are already within
    ``tolerance`` of it (on both axes)."""
    sizes = pixel_size_m(grid)
    if all(abs(size / resolution_m - 1.0) <= tolerance for size in sizes):
        return None
    width = max(1, round(grid.width * sizes[0] / resolution_m))
    height = max(1, round(grid.height * sizes[1] / resolution_m))
    gt = grid.geotransform
    return Grid(width, height, (gt[0], gt[1] * grid.width / width, 0.0, gt[3], 0.0, gt[5] * grid.height / height),
                grid.crs_wkt)


def grid_for_model(reader: RasterReader, spec: ModelSpec, tolerance: float = TOLERANCE) -> Grid | None:
    """The grid to run ``spec``'s model on instead of ``reader``'s own, or None: the
    model records no resolution, the image has no CRS, or its pixels are close enough."""
    resolution = spec.resolution_m
    if resolution is None or not reader.grid.crs_wkt:
        return None
    return model_grid(reader.grid, resolution, tolerance)


def resampled_rows(paths: Sequence[str], grid: Grid, nodata: float,
                   rows: int = STRIP_ROWS) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Single-band rasters (same grid) resampled bilinearly onto ``grid``, in strips
    top to bottom: (row0, values (len(paths), rows, width), valid)."""
    xmin, ymin, xmax, ymax = grid.bounds
    warped = [gdal.Warp("", path, format="VRT", outputBounds=(xmin, ymin, xmax, ymax), width=grid.width,
                        height=grid.height, dstSRS=grid.crs_wkt, resampleAlg="bilinear", srcNodata=nodata,
                        dstNodata=nodata, outputType=gdal.GDT_Float32) for path in paths]
    for row0 in range(0, grid.height, rows):
        count = min(rows, grid.height - row0)
        values = np.stack([w.GetRasterBand(1).ReadAsArray(0, row0, grid.width, count) for w in warped])
        yield row0, values, (values != nodata).all(axis=0)


def resampled_onto(original: RasterReader, model_grid: Grid, band_numbers: Sequence[int], temporary: str,
                   fill: Callable[[RowsFn], int], on_rows: RowsFn, channels: int = 1) -> int:
    """Values made on ``model_grid`` (the model's resolution over ``original``'s extent) by
    ``fill(write)``, then resampled onto ``original``'s grid and handed to ``on_rows`` there;
    pixels invalid in ``original``'s ``band_numbers`` stay invalid. ``temporary`` (a path
    stem) holds the model-grid values meanwhile. Returns the valid pixel count on
    ``original``'s grid."""
    paths = [f"{temporary}.{k}.tif" for k in range(channels)]
    try:
        with ValueRasters(paths, model_grid) as model_grid_values:
            fill(model_grid_values.write_rows)
        valid_pixels = 0
        for row0, values, valid in resampled_rows(paths, original.grid, VALUES_NODATA):
            valid &= original.read(band_numbers, 0, row0, original.grid.width, valid.shape[0])[1]
            valid_pixels += int(valid.sum())
            on_rows(row0, values[0] if channels == 1 else values, valid)
        return valid_pixels
    finally:
        for path in paths:
            remove_dataset(path)
