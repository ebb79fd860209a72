"""Reading pixels through a QGIS raster data provider (the engine's reader interface).

This lets Detect run on any raster layer QGIS can show, including sources GDAL cannot
open directly; GDAL-backed layers are read with GDAL itself, which is faster.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsRectangle,
)

from ..core.io.readers import BandStorage, GdalReader, Grid, Palette, roles_by_band, storage_kind
from . import compat

_NUMPY_TYPES = {
    compat.BYTE: np.uint8,
    compat.UINT16: np.uint16,
    compat.INT16: np.int16,
    compat.UINT32: np.uint32,
    compat.INT32: np.int32,
    compat.FLOAT32: np.float32,
    compat.FLOAT64: np.float64,
}


_ARGB_TYPES = (compat.ARGB32, compat.ARGB32_PREMULTIPLIED)


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
    """Reads windows of a raster layer through its data provider, on the layer's own grid
    or on any grid in the layer's CRS (a web layer read at a chosen resolution: the
    provider renders each window at that resolution). Colour (ARGB) layers, as WMS and
    XYZ services deliver them, read as three bands red, green, blue; transparent pixels
    are invalid. So are paletted layers (one band of colour indices and its colour table),
    as their colours (see core.io.readers.Palette)."""

    def __init__(self, layer: QgsRasterLayer, grid: Grid | None = None):
        self.layer = layer
        self.provider = layer.dataProvider().clone()  # a clone is safe to use off the main thread
        self.argb = self.provider.dataType(1) in _ARGB_TYPES
        self.palette = provider_palette(self.provider) if not self.argb and layer.bandCount() == 1 else None
        self.band_count = 3 if self.argb else Palette.band_count if self.palette else layer.bandCount()
        self.grid = grid or layer_grid(layer)

    reads_in_any_thread = False  # a provider (a web service, say) may be tied to its thread

    def release_cache(self) -> None:
        pass  # providers manage their own caches

    def on_grid(self, grid: Grid, window=None) -> "QgsProviderReader":
        """The provider renders the layer on ``grid`` itself (its extent is the window's)."""
        return QgsProviderReader(self.layer, grid)

    def band_storage(self, number: int) -> BandStorage:
        if self.argb:
            return BandStorage("byte")
        if self.palette:
            return self.palette.storage
        return BandStorage(storage_kind(_NUMPY_TYPES.get(self.provider.dataType(number), np.float64)))

    def band_roles(self) -> dict[str, int]:
        if self.argb:
            return {"red": 1, "green": 2, "blue": 3}
        if self.palette:
            return dict(self.palette.roles)
        return roles_by_band((self.provider.colorInterpretationName(n),) for n in range(1, self.band_count + 1))

    def _extent(self, x0, y0, width, height) -> QgsRectangle:
        gt = self.grid.geotransform
        return QgsRectangle(gt[0] + x0 * gt[1], gt[3] + (y0 + height) * gt[5], gt[0] + (x0 + width) * gt[1],
                            gt[3] + y0 * gt[5])

    def read(self, bands, x0, y0, width, height):
        extent = self._extent(x0, y0, width, height)
        if self.argb:
            return self._read_argb(bands, extent, width, height)
        if self.palette:
            indices, valid = self._read_bands([1], extent, width, height)
            return self.palette.read(bands, indices[0], valid)
        return self._read_bands(bands, extent, width, height)

    def _read_bands(self, bands, extent, width, height):
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

    def _read_argb(self, bands, extent, width, height):
        block = self.provider.block(1, extent, width, height)
        if not block.isValid() or block.dataType() not in _ARGB_TYPES:
            raise ValueError("The layer's colour image could not be read for this extent.")
        pixels = np.frombuffer(bytes(block.data()), dtype=np.uint32).reshape(height, width)
        alpha = (pixels >> 24).astype(np.float32)
        channels = {1: (pixels >> 16) & 255, 2: (pixels >> 8) & 255, 3: pixels & 255}
        out = np.stack([channels[number].astype(np.float32) for number in bands])
        if block.dataType() == compat.ARGB32_PREMULTIPLIED:
            out = np.where(alpha > 0, out * 255.0 / np.maximum(alpha, 1.0), 0.0).astype(np.float32)
        return out, alpha > 0


def provider_palette(provider) -> Palette | None:
    """The palette of a provider's band 1 when its values are colour indices, else None."""
    if provider.colorInterpretation(1) != compat.PALETTE_INDEX:
        return None
    entries = {int(item.value): item.color.getRgb() for item in provider.colorTable(1)}
    return Palette(entries) if entries else None


def resampled_grid(layer: QgsRasterLayer, extent: QgsRectangle, ground_resolution_m: float,
                   transform_context) -> Grid:
    """A grid over ``extent`` (in the layer's CRS) whose pixels are ``ground_resolution_m``
    metres on the ground at its centre, whatever the CRS's units (Web Mercator's metres
    are not ground metres away from the equator; degrees are not metres at all).
    ``transform_context``: the run's (a Processing context's), not the open project's."""
    from qgis.core import QgsDistanceArea, QgsPointXY

    crs = layer.crs()
    measure = QgsDistanceArea()
    measure.setSourceCrs(crs, transform_context)
    measure.setEllipsoid("WGS84")
    centre = extent.center()
    step = max(extent.width(), extent.height()) / 1000.0 or 1.0
    metres_per_unit = measure.measureLine(centre, QgsPointXY(centre.x() + step, centre.y())) / step
    size = ground_resolution_m / metres_per_unit
    width, height = max(1, round(extent.width() / size)), max(1, round(extent.height() / size))
    wkt = crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
    return Grid(width, height, (extent.xMinimum(), extent.width() / width, 0.0, extent.yMaximum(), 0.0,
                                -extent.height() / height), wkt)


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


#: marks a raster layer opened by :func:`open_raster_inputs`
_OPENED_WITHOUT_SIDECARS = "landslide_mapper/opened_without_sidecars"


def open_raster_inputs(alg, parameters: dict, context) -> None:
    """Open the raster files an algorithm's parameters name (the image, the DEM) for
    Processing, so that nothing is written beside them.

    QGIS computes statistics when it opens a raster layer (for its default rendering), and
    GDAL saves them beside the file as ``<file>.aux.xml`` when the layer is closed: a run
    would leave a new file in the user's folder. A file with no ``.aux.xml`` is opened here
    with GDAL's auxiliary files off (there is nothing in one to read, and nothing is saved);
    one that has its own is left to Processing, so what it holds (a nodata value, a CRS)
    still counts. Processing's later look-ups of the path find the layer opened here. When
    Processing has opened the file already (qgis_process checks every value first), that
    layer is closed and the statistics file it leaves, which did not exist before, removed.
    Layers of the project, and values that are not file paths, are left as they are."""
    store = context.temporaryLayerStore()
    for definition in alg.parameterDefinitions():
        value = parameters.get(definition.name())
        if (definition.type() != QgsProcessingParameterRasterLayer.typeName() or not isinstance(value, str)
                or not os.path.isfile(value)):
            continue
        sidecar = value + ".aux.xml"
        if os.path.exists(sidecar):
            continue
        opened = QgsProcessingUtils.mapLayerFromString(value, context, False)
        if opened is not None:
            if opened.customProperty(_OPENED_WITHOUT_SIDECARS) or store.mapLayer(opened.id()) is None:
                continue  # opened here before, or a layer of the project
            store.removeMapLayer(opened.id())  # closed: GDAL saves the statistics QGIS computed
            opened = None
            if os.path.exists(sidecar):
                os.remove(sidecar)
        options = QgsRasterLayer.LayerOptions(loadDefaultStyle=False)  # as Processing opens it
        options.skipCrsValidation = True
        with _gdal_option("GDAL_PAM_ENABLED", "NO"):
            layer = QgsRasterLayer(value, Path(value).stem, "gdal", options)
        if layer.isValid():
            layer.setCustomProperty(_OPENED_WITHOUT_SIDECARS, True)
            store.addMapLayer(layer)


@contextmanager
def _gdal_option(key: str, value: str):
    """A GDAL configuration option set for this thread only, for the ``with`` block."""
    before = gdal.GetThreadLocalConfigOption(key, None)
    gdal.SetThreadLocalConfigOption(key, value)
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption(key, before)
