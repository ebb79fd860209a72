"""The vector outputs of an evaluation: every object with its status, the false-positive
and false-negative polygons, and the inventory points hit and missed.

Each is one layer in a new file, in the scoring grid's CRS, with areas in square metres
measured in an equal-area projection (a grid in degrees or a distorting projection would
misstate them).
"""

from __future__ import annotations

from contextlib import contextmanager

from osgeo import gdal, ogr, osr

from ..engine.progress import Progress
from ..io.polygons import equal_area_transform, lut_vrt, polygonize, vector_driver_for
from ..io.readers import Grid, srs_from
from .metrics import ObjectTally
from .object_rasters import ObjectRaster
from .scoring_pass import ERROR_NAMES

gdal.UseExceptions()
ogr.UseExceptions()

OBJECT_FIELDS = [("map", ogr.OFTString), ("source_fid", ogr.OFTInteger64), ("status", ogr.OFTString),
                 ("covered_share", ogr.OFTReal), ("area_m2", ogr.OFTReal)]
ERROR_FIELDS = [("error_code", ogr.OFTInteger), ("error", ogr.OFTString), ("area_m2", ogr.OFTReal)]
POINT_FIELDS = [("source_fid", ogr.OFTInteger64), ("status", ogr.OFTString)]


def object_rows(grid: Grid, predicted: ObjectRaster, referenced: ObjectRaster, tally: ObjectTally,
                ref_status: list, pred_status: list) -> list[tuple[ogr.Geometry, dict]]:
    """(geometry, attributes) of every reference and predicted object: the objects layer
    and the report's map and tables (``obj``: the object's id on its map, not written)."""
    to_metres = equal_area_transform(srs_from(grid.crs_wkt), grid)
    rows = []
    for name, objects, status, covered, scored in (
        ("reference", referenced, ref_status, tally.reference_covered, tally.reference_scored),
        ("prediction", predicted, pred_status, tally.predicted_touching, tally.predicted_scored),
    ):
        for feature in objects.holder[1]:
            k = feature.GetField("obj")
            geometry = ogr.ForceToMultiPolygon(feature.GetGeometryRef().Clone())
            rows.append((geometry, {
                "map": name, "source_fid": objects.source_fids[k - 1], "status": status[k - 1],
                "covered_share": round(float(covered[k]) / float(scored[k]), 4) if scored[k] else None,
                "area_m2": _area_m2(geometry, to_metres), "obj": k,
            }))
    return rows


def write_objects(path: str, grid: Grid, rows: list[tuple[ogr.Geometry, dict]]) -> None:
    write_features(path, "objects", grid, ogr.wkbMultiPolygon, OBJECT_FIELDS, rows)


def write_errors(errors_path: str, path: str, grid: Grid, progress: Progress) -> None:
    """False-positive / false-negative polygons (4-connected regions of the error raster)."""
    # unscored pixels (255) read as 0 through the look-up VRT: GDAL never polygonizes them
    codes = gdal.Open(lut_vrt(errors_path, grid, "0:0,1:1,2:2,255:0"))
    memory = ogr.GetDriverByName("Memory").CreateDataSource("raw")
    raw = memory.CreateLayer("raw", srs=srs_from(grid.crs_wkt), geom_type=ogr.wkbPolygon)
    raw.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    # cancellable, but silent: the caller moves the bar before and after
    polygonize(codes.GetRasterBand(1), raw, tuple(ERROR_NAMES), Progress(is_cancelled=lambda: progress.cancelled))
    to_metres = equal_area_transform(srs_from(grid.crs_wkt), grid)
    rows = ((f.GetGeometryRef().Clone(), {"error_code": f.GetField("code"), "error": ERROR_NAMES[f.GetField("code")],
                                         "area_m2": _area_m2(f.GetGeometryRef(), to_metres)}) for f in raw)
    write_features(path, "errors", grid, ogr.wkbPolygon, ERROR_FIELDS, rows)


def write_points(path: str, grid: Grid, rows: list[tuple]) -> None:
    """The points scored (:func:`.scoring_pass.score_points`' rows), each with its status."""
    write_features(path, "points", grid, ogr.wkbPoint, POINT_FIELDS,
                   ((geometry.Centroid(), {"source_fid": fid, "status": status}) for fid, status, geometry in rows))


def write_features(path: str, name: str, grid: Grid, geom_type, fields: list[tuple[str, int]], rows) -> None:
    """One layer of (geometry, {field: value}) rows; None values stay null."""
    names = {field for field, _kind in fields}
    with _new_layer(path, name, grid, geom_type, fields) as layer:
        layer.StartTransaction()
        for geometry, values in rows:
            out = ogr.Feature(layer.GetLayerDefn())
            out.SetGeometry(geometry)
            for key, value in values.items():
                if value is not None and key in names:
                    out.SetField(key, value)
            layer.CreateFeature(out)
        layer.CommitTransaction()


@contextmanager
def _new_layer(path: str, name: str, grid: Grid, geom_type, fields: list[tuple[str, int]]):
    """A new vector file with one layer; the file is closed when the block ends, also on
    an error or a cancel, so that the caller can delete it (an open GeoPackage would be
    written again when the exception's frames release it)."""
    dataset = ogr.GetDriverByName(vector_driver_for(path)).CreateDataSource(path)
    try:
        layer = dataset.CreateLayer(name, srs=srs_from(grid.crs_wkt), geom_type=geom_type)
        for field_name, kind in fields:
            layer.CreateField(ogr.FieldDefn(field_name, kind))
        yield layer
    finally:
        layer = None
        dataset = None


def _area_m2(geometry: ogr.Geometry, to_metres: osr.CoordinateTransformation) -> float:
    measured = geometry.Clone()
    measured.Transform(to_metres)
    return round(measured.GetArea(), 2)
