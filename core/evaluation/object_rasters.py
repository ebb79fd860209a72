"""Landslide maps as object-id rasters on the scoring grid.

Polygons are rasterized at pixel centres; a raster's landslide pixels are resampled onto
the grid (nearest neighbour: a mask stays a mask) and grouped into 4-connected objects,
as GDAL polygonizes them. Every map then reads the same way: 0 no landslide, k object k.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from ..engine.progress import SILENT, Progress
from ..errors import NO_CRS, EvaluationError
from ..io.outputs import GeoTiffWriter
from ..io.polygons import lut_vrt, polygonize
from ..io.readers import GdalReader, Grid, srs_from
from ..io.vectors import LandslideMap, describe_crs, reprojected_features

gdal.UseExceptions()
ogr.UseExceptions()

#: rows read and written at a time: memory that does not grow with the raster
STRIP_ROWS = 512


def rasterize(holder, grid: Grid, path: str, gdal_type, burn: int | None = None) -> None:
    """Burn polygons (pixel centres inside) into a new tiled GeoTIFF on ``grid``: their
    ``obj`` attribute, or ``burn``."""
    target = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, 1, gdal_type,
                                                  options=["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
    target.SetGeoTransform(grid.geotransform)
    target.SetProjection(grid.crs_wkt)
    layer = holder[1]
    if burn is None:
        gdal.RasterizeLayer(target, [1], layer, options=["ATTRIBUTE=obj"])
    else:
        gdal.RasterizeLayer(target, [1], layer, burn_values=[burn])
    target.FlushCache()
    target = None


@dataclass
class ObjectRaster:
    """A map on the scoring grid: ``ids`` (Int32, 0 = no landslide, k = object k),
    ``valid`` (None, or a raster whose value 255 marks unscored pixels), the objects'
    polygons in the grid's CRS and a sentence on how the map was aligned."""

    ids: str
    valid: str | None
    holder: tuple
    source_fids: list
    how: str

    @property
    def count(self) -> int:
        return len(self.source_fids)

    @classmethod
    def build(cls, source: LandslideMap, grid: Grid, stem: Path, name: str,
              progress: Progress = SILENT) -> "ObjectRaster":
        """``progress`` counts the raster's strips and polygons; a cancel raises :class:`Cancelled`
        between steps (the files written so far are the caller's scratch)."""
        if source.is_raster:
            return cls._from_raster(source, grid, stem, name, progress)
        progress.check()
        holder, fids, crs = reprojected_features(source, grid.crs_wkt, name)
        progress.check()  # reprojecting and rasterizing a large inventory both take a while
        ids = str(stem) + "_ids.tif"
        rasterize(holder, grid, ids, gdal.GDT_Int32)
        moved = "" if crs == describe_crs(grid.crs_wkt) else f"reprojected from {crs} and "
        how = (f"The {name} polygons ({len(fids)}) were {moved}rasterized onto it "
               "(a pixel is inside when its centre is).")
        return cls(ids, None, holder, fids, how)

    @classmethod
    def _from_raster(cls, source: LandslideMap, grid: Grid, stem: Path, name: str,
                     progress: Progress) -> "ObjectRaster":
        dataset = gdal.Open(source.path)
        own = GdalReader(dataset).grid
        if not own.crs_wkt:
            raise EvaluationError(NO_CRS, name, Path(source.path).name)
        if own == grid:
            aligned, how = dataset, f"The {name} raster is on that grid."
        else:
            # nearest neighbour: a mask must stay a mask
            aligned = gdal.Warp("", dataset, options=gdal.WarpOptions(
                format="VRT", outputBounds=grid.bounds, width=grid.width, height=grid.height,
                dstSRS=grid.crs_wkt, resampleAlg="near", dstNodata=-1.0e30, outputType=gdal.GDT_Float32))
            gt = own.geotransform
            how = (f"The {name} raster ({describe_crs(own.crs_wkt)}, {abs(gt[1]):g} x {abs(gt[5]):g} pixels) was "
                   "resampled onto it by nearest neighbour.")
        reader = GdalReader(aligned, colours=False)  # classes, even where a colour table shows them
        indicator_path = str(stem) + "_mask.tif"
        strips = progress.part(0.0, 0.5)
        with GeoTiffWriter(indicator_path, grid, np.uint8, 255) as out:
            for row0 in range(0, grid.height, STRIP_ROWS):
                strips.check()
                rows = min(STRIP_ROWS, grid.height - row0)
                values, valid = reader.read([source.band], 0, row0, grid.width, rows)
                out.write_rows(row0, np.where(valid, values[0] > 0, 255).astype(np.uint8))
                strips((row0 + rows) / grid.height)
        # landslide pixels -> 4-connected polygons -> object ids (the same pixels back);
        # unscored pixels (255) read as 0 through the look-up VRT: GDAL never polygonizes them
        indicator = gdal.Open(lut_vrt(indicator_path, grid))
        memory = ogr.GetDriverByName("Memory").CreateDataSource("objects")
        layer = memory.CreateLayer("objects", srs=srs_from(grid.crs_wkt), geom_type=ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("obj", ogr.OFTInteger))
        polygonize(indicator.GetRasterBand(1), layer, (1,), progress.part(0.5, 0.9))
        fids = []
        layer.StartTransaction()
        for feature in layer:
            fids.append(None)
            feature.SetField("obj", len(fids))
            layer.SetFeature(feature)
        layer.CommitTransaction()
        del indicator
        progress.check()
        ids = str(stem) + "_ids.tif"
        rasterize((memory, layer), grid, ids, gdal.GDT_Int32)
        return cls(ids, indicator_path, (memory, layer), fids, how)
