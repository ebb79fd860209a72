"""Landslide maps and inventories as GDAL sees them: a raster or a polygon layer
(:class:`LandslideMap`), a layer opened with its CRS, its features reprojected into
memory. Evaluate scores such maps (:mod:`core.evaluation.scoring`); training patches
burn an inventory onto an image's grid (:mod:`core.imagery.patches`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from osgeo import gdal, ogr, osr

from ..errors import NO_CRS, NO_SUCH_LAYER, UNREADABLE, EvaluationError
from ..io.readers import srs_from

gdal.UseExceptions()
ogr.UseExceptions()


@dataclass(frozen=True)
class LandslideMap:
    """A landslide map: a raster (pixels > 0 are landslide, nodata is not scored) or a
    polygon layer (every polygon is a landslide)."""

    path: str
    layer: str | None = None  # vector layer name; None: the first layer
    band: int = 1

    @cached_property
    def is_raster(self) -> bool:
        try:
            return gdal.OpenEx(self.path, gdal.OF_RASTER) is not None
        except RuntimeError:
            return False


def describe_crs(wkt: str) -> str:
    srs = srs_from(wkt)
    authority, code = srs.GetAuthorityName(None), srs.GetAuthorityCode(None)
    return f"{authority}:{code}" if authority and code else (srs.GetName() or "unnamed CRS")


def open_layer(source: LandslideMap, role: str | None):
    """(dataset, layer, its CRS): the dataset must stay referenced while the layer is used;
    ``role``: which input it is (for errors)."""
    name = Path(source.path).name
    dataset = gdal.OpenEx(source.path, gdal.OF_VECTOR)
    if dataset is None:
        raise EvaluationError(UNREADABLE, role, name)
    layer = dataset.GetLayerByName(source.layer) if source.layer else dataset.GetLayer(0)
    if layer is None:
        raise EvaluationError(NO_SUCH_LAYER, role, name, source.layer)
    srs = layer.GetSpatialRef()
    if srs is None:
        raise EvaluationError(NO_CRS, role, name, layer.GetName())
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return dataset, layer, srs


def reprojected_features(source: LandslideMap, target_wkt: str, role: str | None = None):
    """The layer's features in ``target_wkt``, in an in-memory layer with ``obj`` = 1..n
    in reading order; returns (layer holder, source fids, source CRS description).
    ``role``: which input the layer is (for errors)."""
    dataset, layer, srs = open_layer(source, role)
    target = srs_from(target_wkt)
    transform = None if srs.IsSame(target) else osr.CoordinateTransformation(srs, target)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("objects")
    out = memory.CreateLayer("objects", srs=target, geom_type=layer.GetGeomType())
    out.CreateField(ogr.FieldDefn("obj", ogr.OFTInteger))
    fids = []
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.IsEmpty():
            continue
        geometry = geometry.Clone()
        if transform is not None:
            geometry.Transform(transform)
        copy = ogr.Feature(out.GetLayerDefn())
        copy.SetGeometry(geometry)
        fids.append(feature.GetFID())
        copy.SetField("obj", len(fids))
        out.CreateFeature(copy)
    return (memory, out), fids, describe_crs(srs.ExportToWkt())
