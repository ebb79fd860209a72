"""Landslide polygons from the mask raster, with areas in m² and probability statistics."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
from osgeo import gdal, ogr, osr

from ..engine.progress import SILENT, Progress
from ..errors import Cancelled
from ..model.object_filter import ObjectFilter
from .readers import GdalReader

gdal.UseExceptions()
ogr.UseExceptions()

LAYER_NAME = "landslides"
#: Extra attributes of each polygon: name -> (OGR field type, function of the polygon's geometry)
Annotations = dict[str, tuple[int, Callable[[ogr.Geometry], object]]]
_DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf"}
#: The vector formats the plugin reads and writes, by file extension (GeoPackage first: the default)
VECTOR_EXTENSIONS = tuple(suffix.lstrip(".") for suffix in _DRIVERS)


#: Shapefile (dBase) field names hold at most 10 characters: in a .shp, the attributes
#: with longer names take these short names (same values); every other format keeps the
#: full names.
SHAPEFILE_FIELD_NAMES = {
    "perimeter_m": "perim_m",
    "filter_score": "filt_score",
    "mean_saliency": "mean_sal",
    "max_saliency": "max_sal",
    "boundary_saliency_share": "bnd_sal_sh",
    "landslide_id": "ls_id",
}
SHAPEFILE = "ESRI Shapefile"
_SHAPEFILE_NAME_LIMIT = 10


def field_name(name: str, driver: str) -> str:
    """The name attribute ``name`` is written under in a ``driver`` file (see SHAPEFILE_FIELD_NAMES)."""
    if driver != SHAPEFILE:
        return name
    short = SHAPEFILE_FIELD_NAMES.get(name, name)
    if len(short) > _SHAPEFILE_NAME_LIMIT:
        raise ValueError(f"The attribute '{name}' has no Shapefile name of {_SHAPEFILE_NAME_LIMIT} characters or "
                         "fewer: write the polygons to a GeoPackage (.gpkg) instead.")
    return short


def vector_driver_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _DRIVERS:
        raise ValueError(
            f"Cannot write polygons to '{Path(path).name}': use one of {', '.join(sorted(_DRIVERS))}."
        )
    return _DRIVERS[suffix]


def polygonize(band: gdal.Band, layer: ogr.Layer, values: Collection[int], progress: Progress = SILENT) -> None:
    """Write the 4-connected regions of ``band`` whose pixel value is one of ``values`` to
    ``layer``, as polygons in GDAL's order with the value in the layer's first field.

    The band is its own mask: 0 is never polygonized. The other values not in ``values``
    are polygonized too (GDAL cannot skip them) and deleted from the layer afterwards. The
    whole is one transaction on ``layer``. ``progress`` counts the band's rows; a cancel
    stops GDAL and raises :class:`Cancelled`.
    """
    source = band.GetDataset()
    flushed_at = [0.0]

    def gdal_progress(fraction, _message, _data):
        if fraction - flushed_at[0] >= 0.01:
            source.FlushCache()  # drop tiles already polygonized from GDAL's cache: rows are read once
            flushed_at[0] = fraction
        progress(fraction)
        return 0 if progress.cancelled else 1

    layer.StartTransaction()
    try:
        gdal.Polygonize(band, band, layer, 0, [], callback=gdal_progress)
    except RuntimeError:
        progress.check()  # GDAL reports the callback's stop as "User terminated"
        raise
    value_field = layer.GetLayerDefn().GetFieldDefn(0).GetName()
    layer.SetAttributeFilter(f'"{value_field}" NOT IN ({", ".join(str(int(v)) for v in values)})')
    others = [feature.GetFID() for feature in layer]
    layer.SetAttributeFilter(None)
    for fid in others:
        layer.DeleteFeature(fid)
    layer.CommitTransaction()


def polygonize_mask(
    mask_path: str,
    values_path: str,
    out_path: str,
    value_name: str = "prob",
    constants: dict[str, str | float] | None = None,
    min_area_m2: float = 0.0,
    progress: Progress = SILENT,
    layer_name: str = LAYER_NAME,
    annotations: Annotations | None = None,
    object_filter: ObjectFilter | None = None,
    dropped_path: str | None = None,
    smooth: bool = False,
) -> PolygonCounts:
    """Write one polygon per connected region of mask value 1 to ``out_path``.

    With ``smooth`` the pixel staircase of each outline is cut to a smooth line (see
    :func:`smoothed_outline`) before anything is measured: area, perimeter and values are
    those of the polygon the mapper sees.

    Attributes: ``area_m2``, ``perimeter_m``, ``mean_<value_name>`` and
    ``max_<value_name>`` (of the ``values_path`` raster's pixels inside), then the
    ``constants`` and ``annotations``. Areas and perimeters are measured in a Lambert
    azimuthal equal-area projection centred on the raster, so they are in m² and m
    whatever the raster's CRS (geographic included). Polygons smaller than
    ``min_area_m2`` are dropped. With ``object_filter`` every polygon gets its
    ``filter_score``, and those under the filter's cut go to ``dropped_path`` (when
    given) instead of ``out_path``. Returns how many went to each. In a Shapefile the
    names longer than 10 characters are shortened as ``SHAPEFILE_FIELD_NAMES`` says.
    """
    mask_ds = gdal.Open(mask_path)
    grid = GdalReader(mask_ds).grid
    srs = osr.SpatialReference()
    srs.ImportFromWkt(grid.crs_wkt)
    # Raw polygons go to a scratch GeoPackage beside the output, not to memory: a noisy
    # mask of a large scene can hold millions of them.
    scratch_path = str(Path(out_path).with_name(f".{Path(out_path).stem}.scratch-{uuid.uuid4().hex[:8]}.gpkg"))
    scratch = ogr.GetDriverByName("GPKG").CreateDataSource(scratch_path)
    try:
        raw = scratch.CreateLayer("raw", srs=srs, geom_type=ogr.wkbPolygon, options=["SPATIAL_INDEX=NO"])
        raw.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
        # Landslide pixels (1) of the mask band itself, not of a look-up VRT that hides
        # nodata (as Evaluate reads its rasters): read straight from the GeoTIFF, this is 6x
        # faster, and nodata's polygons are few and large (a collar, a scene's gutters), so
        # dropping them afterwards is cheap.
        polygonize(mask_ds.GetRasterBand(1), raw, (1,), progress.part(0.0, 0.5))

        fields: Annotations = {
            "area_m2": (ogr.OFTReal, None),
            "perimeter_m": (ogr.OFTReal, None),
            f"mean_{value_name}": (ogr.OFTReal, None),
            f"max_{value_name}": (ogr.OFTReal, None),
        }
        for name, value in (constants or {}).items():
            fields[name] = (ogr.OFTString if isinstance(value, str) else ogr.OFTReal, lambda _g, v=value: v)
        fields.update(annotations or {})
        if object_filter is not None:
            fields["filter_score"] = (ogr.OFTReal, None)
        driver = vector_driver_for(out_path)
        out = ogr.GetDriverByName(driver).CreateDataSource(out_path)
        dropped = None
        try:
            layer = _new_layer(out, layer_name, srs, fields, driver)
            dropped_layer = None
            if object_filter is not None and dropped_path:
                driver = vector_driver_for(dropped_path)
                dropped = ogr.GetDriverByName(driver).CreateDataSource(dropped_path)
                dropped_layer = _new_layer(dropped, f"{layer_name}_dropped", srs, fields, driver)
            return _write_polygons(layer, raw, srs, GdalReader(values_path), fields, value_name,
                                   min_area_m2, progress, object_filter, dropped_layer, smooth)
        finally:
            out = dropped = None  # closed before the files are moved into place or removed
    finally:
        raw = scratch = None
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(scratch_path + suffix):
                os.remove(scratch_path + suffix)


def _new_layer(dataset, name: str, srs, fields: Annotations, driver: str):
    """A polygon layer with ``fields``, in their order, named for ``driver`` (see :func:`field_name`)."""
    layer = dataset.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon)
    for field, (kind, _compute) in fields.items():
        layer.CreateField(ogr.FieldDefn(field_name(field, driver), kind))
    return layer


def _write_polygons(layer, raw, srs, values: GdalReader, fields: Annotations, value_name: str,
                    min_area_m2, progress: Progress, object_filter=None, dropped_layer=None,
                    smooth: bool = False) -> PolygonCounts:
    """Fields are set by their place in ``fields`` (the layers' order): a format may name them otherwise."""
    to_metres = equal_area_transform(srs, values.grid)
    layers = [layer] + ([dropped_layer] if dropped_layer is not None else [])
    for target in layers:
        target.StartTransaction()
    total = max(1, raw.GetFeatureCount())
    kept = set_aside = 0
    for i, feature in enumerate(raw):
        if i % 256 == 0:
            if progress.cancelled:
                for target in layers:
                    target.RollbackTransaction()
                raise Cancelled()
            values.release_cache()
            progress(0.5 + 0.5 * i / total)
        geometry = feature.GetGeometryRef()
        area, perimeter = _measured(geometry, to_metres)
        if area < min_area_m2:
            continue
        # the values, and the filter's view, are those of the mask's pixels (as the filter was fitted)
        mean_value, max_value = _value_stats(values, geometry, srs)
        pixel_area, pixel_perimeter = area, perimeter
        if smooth:
            geometry = smoothed_outline(geometry, abs(values.grid.geotransform[1]))
            area, perimeter = _measured(geometry, to_metres)
        target = layer
        row = {"area_m2": round(area, 2), "perimeter_m": round(perimeter, 2),
               f"mean_{value_name}": mean_value, f"max_{value_name}": max_value}
        if object_filter is not None:
            passes, score = object_filter.keeps(pixel_area, pixel_perimeter, mean_value, max_value)
            if not math.isnan(score):
                row["filter_score"] = round(score, 4)
            if not passes:
                if dropped_layer is None:
                    continue
                target = dropped_layer
        out_feature = ogr.Feature(target.GetLayerDefn())
        out_feature.SetGeometry(geometry)
        for index, (name, (_kind, compute)) in enumerate(fields.items()):
            value = compute(geometry) if compute is not None else row.get(name)
            if value is not None:
                out_feature.SetField(index, value)
        target.CreateFeature(out_feature)
        kept += target is layer
        set_aside += target is not layer
    for target in layers:
        target.CommitTransaction()
    return PolygonCounts(kept, set_aside)


def _measured(geometry, to_metres) -> tuple[float, float]:
    """(area m², perimeter m) in the equal-area projection."""
    measured = geometry.Clone()
    measured.Transform(to_metres)
    return measured.GetArea(), measured.Boundary().Length()


def smoothed_outline(polygon, pixel_size: float, iterations: int = 2):
    """The polygon with its pixel staircase cut away: the outline through the middles of its
    pixel edges (a one-pixel stair becomes a slope), rounded by Chaikin's corner cutting,
    so it stays within half a pixel of the pixels' edges (the shape, its area and its holes
    stay the mask's), then the extra vertices of straight runs dropped.
    Where cutting would make an invalid shape (a one-pixel neck), the pixel outline stays."""
    dense = polygon.Clone()
    dense.Segmentize(pixel_size)  # vertices a pixel apart: each cut then takes at most a quarter pixel
    rings = []
    for i in range(dense.GetGeometryCount()):
        points = np.array(dense.GetGeometryRef(i).GetPoints())[:-1, :2]  # closed ring: last repeats first
        if len(points) >= 4:  # the middles of the pixel edges: a one-pixel stair becomes a straight slope
            points = 0.5 * (points + np.roll(points, -1, axis=0))
        for _ in range(iterations if len(points) >= 4 else 0):
            following = np.roll(points, -1, axis=0)
            cut = np.empty((2 * len(points), 2))
            cut[0::2], cut[1::2] = 0.75 * points + 0.25 * following, 0.25 * points + 0.75 * following
            points = cut
        rings.append(np.vstack([points, points[:1]]))  # closed again
    smooth = _polygon_of(rings)
    # plain Douglas-Peucker, ring by ring, is 5x faster than the topology-preserving kind and
    # gives the same shape unless its rings come to cross: then the slower one
    for simplify in (smooth.Simplify, smooth.SimplifyPreserveTopology):
        result = simplify(pixel_size / 8)
        if result is not None and result.IsValid() and not result.IsEmpty():
            return result
    return polygon.Clone()


def _polygon_of(rings: list[np.ndarray]):
    """An OGR polygon of closed (n, 2) rings, through WKB: one call instead of a call per vertex."""
    parts = [np.array([1], "<u1").tobytes(), np.array([3, len(rings)], "<u4").tobytes()]
    for ring in rings:
        parts += [np.array([len(ring)], "<u4").tobytes(), np.ascontiguousarray(ring, "<f8").tobytes()]
    return ogr.CreateGeometryFromWkb(b"".join(parts))


class PolygonCounts(NamedTuple):
    kept: int
    set_aside: int  # by the object filter, written to its own layer


MASK_ONES = "0:0,1:1,2:0,255:0"  # a 0/1 mask with 255 = nodata, read as 0/1


def lut_vrt(mask_path: str, grid, lut: str = MASK_ONES) -> str:
    """A VRT over a byte raster that maps its values through ``lut`` (GDAL's
    ``in:out,...`` syntax) without copying it, e.g. to polygonize some values only."""
    geotransform = ", ".join(repr(v) for v in grid.geotransform)
    return f"""<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">
  <SRS>{_xml_escape(grid.crs_wkt)}</SRS>
  <GeoTransform>{geotransform}</GeoTransform>
  <VRTRasterBand dataType="Byte" band="1">
    <ComplexSource>
      <SourceFilename relativeToVRT="0">{_xml_escape(str(mask_path))}</SourceFilename>
      <SourceBand>1</SourceBand>
      <LUT>{lut}</LUT>
    </ComplexSource>
  </VRTRasterBand>
</VRTDataset>"""


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def equal_area_transform(srs: osr.SpatialReference, grid) -> osr.CoordinateTransformation:
    xmin, ymin, xmax, ymax = grid.bounds
    centre = ogr.Geometry(ogr.wkbPoint)
    centre.AddPoint_2D((xmin + xmax) / 2, (ymin + ymax) / 2)
    geographic = osr.SpatialReference()
    geographic.ImportFromEPSG(4326)
    for s in (srs, geographic):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    centre.Transform(osr.CoordinateTransformation(srs, geographic))
    laea = osr.SpatialReference()
    laea.SetLAEA(centre.GetY(), centre.GetX(), 0, 0)
    laea.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(srs, laea)


def _value_stats(raster: GdalReader, geometry: ogr.Geometry, srs) -> tuple[float, float]:
    """Mean and max raster value of the valid pixels whose centres fall inside ``geometry``."""
    values, inside = pixels_inside(raster, geometry, srs)
    if not inside.any():
        return float("nan"), float("nan")
    pixels = values[inside]
    return float(f"{np.mean(pixels):.5g}"), float(f"{np.max(pixels):.5g}")


def pixels_inside(raster: GdalReader, geometry: ogr.Geometry, srs, *also: ogr.Geometry):
    """The raster's values over ``geometry``'s bounding box and a mask of the valid pixels
    whose centres fall inside it; one more mask for each geometry in ``also``."""
    gt = raster.grid.geotransform
    xmin, xmax, ymin, ymax = geometry.GetEnvelope()
    c0 = max(0, int(math.floor((xmin - gt[0]) / gt[1])))
    c1 = min(raster.grid.width, int(math.ceil((xmax - gt[0]) / gt[1])))
    r0 = max(0, int(math.floor((ymax - gt[3]) / gt[5])))
    r1 = min(raster.grid.height, int(math.ceil((ymin - gt[3]) / gt[5])))
    values, valid = raster.read([1], c0, r0, c1 - c0, r1 - r0)
    masks = []
    for shape in (geometry, *also):
        target = gdal.GetDriverByName("MEM").Create("", c1 - c0, r1 - r0, 1, gdal.GDT_Byte)
        target.SetGeoTransform((gt[0] + c0 * gt[1], gt[1], 0.0, gt[3] + r0 * gt[5], 0.0, gt[5]))
        target.SetProjection(raster.grid.crs_wkt)
        memory = ogr.GetDriverByName("Memory").CreateDataSource("one")
        layer = memory.CreateLayer("one", srs=srs, geom_type=ogr.wkbPolygon)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(shape)
        layer.CreateFeature(feature)
        gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
        masks.append((target.GetRasterBand(1).ReadAsArray() == 1) & valid)
    return (values[0], *masks)


def boundary_summary(values_path: str, value_name: str, ring_pixels: int = 2) -> Annotations:
    """Polygon attributes from a raster: ``mean_<value_name>``, and
    ``boundary_<value_name>_share``, the share of the polygon's summed value that lies
    within ``ring_pixels`` of its outline. For saliency, a high share means the model
    looked at the scarp and the edges; a low one, at the interior tone."""
    raster = GdalReader(values_path)
    srs = osr.SpatialReference()
    srs.ImportFromWkt(raster.grid.crs_wkt)
    ring = ring_pixels * abs(raster.grid.geotransform[1])
    last: dict[bytes, tuple] = {}  # both attributes come from one pass over the polygon

    def summary(geometry: ogr.Geometry):
        key = bytes(geometry.ExportToWkb())
        if key not in last:
            values, inside, core = pixels_inside(raster, geometry, srs, geometry.Buffer(-ring))
            total = float(values[inside].sum())
            last.clear()
            if total <= 0:
                last[key] = (None, None)
            else:
                on_ring = float(values[inside & ~core].sum())
                last[key] = (float(f"{values[inside].mean():.5g}"), round(on_ring / total, 4))
        return last[key]

    return {
        f"mean_{value_name}": (ogr.OFTReal, lambda g: summary(g)[0]),
        f"boundary_{value_name}_share": (ogr.OFTReal, lambda g: summary(g)[1]),
    }
