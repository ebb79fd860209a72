"""Reading pixels through a QGIS raster data provider (the engine's reader interface).

This lets Detect run on any raster layer QGIS can show, including sources GDAL cannot
open directly; GDAL-backed layers are read with GDAL itself, which is faster.
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal
from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsRasterLayer, QgsRectangle

from ..core.readers import GdalReader, Grid, role_of

_NUMPY_TYPES = {
    Qgis.Byte: np.uint8,
    Qgis.UInt16: np.uint16,
    Qgis.Int16: np.int16,
    Qgis.UInt32: np.uint32,
    Qgis.Int32: np.int32,
    Qgis.Float32: np.float32,
    Qgis.Float64: np.float64,
}


def layer_grid(layer: QgsRasterLayer) -> Grid:
    extent = layer.extent()
    width, height = layer.width(), layer.height()
    geotransform = (
        extent.xMinimum(),
        extent.width() / width,
        0.0,
        extent.yMaximum(),
        0.0,
        -extent.height() / height,
    )
    crs = layer.crs()
    wkt = crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs.isValid() else ""
    return Grid(width, height, geotransform, wkt)


class QgsProviderReader:
    """Reads windows of a raster layer through its data provider."""

    def __init__(self, layer: QgsRasterLayer):
        self.provider = layer.dataProvider().clone()  # a clone is safe to use off the main thread
        self.band_count = layer.bandCount()
        self.grid = layer_grid(layer)

    def release_cache(self) -> None:
        pass  # providers manage their own caches

    def band_is_byte(self, number: int) -> bool:
        return self.provider.dataType(number) == Qgis.Byte

    def band_roles(self) -> dict[str, int]:
        roles: dict[str, int] = {}
        for number in range(1, self.band_count + 1):
            role = role_of(self.provider.colorInterpretationName(number))
            if role and role not in roles:
                roles[role] = number
        return roles

    def read(self, bands, x0, y0, width, height):
        gt = self.grid.geotransform
        extent = QgsRectangle(
            gt[0] + x0 * gt[1], gt[3] + (y0 + height) * gt[5], gt[0] + (x0 + width) * gt[1], gt[3] + y0 * gt[5]
        )
        out = np.empty((len(bands), height, width), dtype=np.float32)
        valid = np.ones((height, width), dtype=bool)
        for i, number in enumerate(bands):
            block = self.provider.block(number, extent, width, height)
            if not block.isValid() or block.dataType() not in _NUMPY_TYPES:
                raise ValueError(f"Band {number} cannot be read as numbers (data type {block.dataType()}).")
            values = np.frombuffer(bytes(block.data()), dtype=_NUMPY_TYPES[block.dataType()])
            out[i] = values.reshape(height, width)
            if block.hasNoDataValue():
                valid &= out[i] != np.float32(block.noDataValue())
            valid &= np.isfinite(out[i])
        return out, valid


def reader_for(layer: QgsRasterLayer):
    """A GDAL reader for file-backed layers (faster), the provider reader otherwise.

    Either way the grid's CRS is the layer's, so a CRS the user assigned in QGIS counts.
    """
    grid = layer_grid(layer)
    if layer.providerType() == "gdal":
        try:
            reader = GdalReader(gdal.Open(layer.source()))
        except RuntimeError:
            reader = None
        if reader is not None and (reader.grid.width, reader.grid.height) == (grid.width, grid.height):
            reader.grid = Grid(grid.width, grid.height, reader.grid.geotransform, grid.crs_wkt)
            return reader
    return QgsProviderReader(layer)
