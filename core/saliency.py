"""Saliency rasters and salient zones: why the model drew a landslide.

The model's exported saliency graph gives, for one window, the method's vanilla
gradient (Eq. 11): mean over input bands of |d(mean predicted probability)/d(input)|.
Windows are stitched with the same blended, streaming engine as Detect. No per-window
rescaling is applied: every window has the same size, so the raw gradients of
neighbouring windows are already on one scale, and rescaling each window (e.g. to its
own maximum) is what would make window borders show.

Salient zones are the connected regions of pixels above a percentile of the raster's
saliency, polygonized like landslides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from osgeo import ogr

from .engine.progress import SILENT, Progress
from .engine.streaming import WindowSettings, predict_raster
from .errors import NoValidPixels
from .imagery.inputs import ModelInput
from .io.outputs import VALUES_NODATA, AtomicOutputs, GeoTiffWriter, ValueRasters
from .io.polygons import polygonize_mask
from .io.readers import GdalReader
from .io.resolution import pixel_size_m
from .model.onnx_model import Device, ModelError, OnnxModel, read_spec
from .model.protocol import Model

SALIENCY_NODATA = VALUES_NODATA
ZONES_LAYER = "salient_zones"
#: salient zones: the saliency's mean over (2 r + 1)² pixels is thresholded, and zones under
#: ZONE_MIN_PIXELS pixels are left out (tens of zones a person can review, not specks)
ZONE_SMOOTHING_PX = 3
ZONE_MIN_PIXELS = 50


def saliency_model_for(model_path: str | Path, threads: int = 0, device: Device | str = Device.AUTO) -> OnnxModel:
    """The saliency graph that belongs to a prediction model (named in its spec)."""
    name = read_spec(model_path).saliency_model
    if not name:
        raise ModelError(
            f"{Path(model_path).name} has no saliency graph (its spec names no 'saliency_model'): "
            "export it with 'python -m training export' to get one."
        )
    path = Path(model_path).with_name(name)
    if not path.is_file():
        raise ModelError(f"The saliency graph {name} of {Path(model_path).name} is missing: expected it at {path}.")
    return OnnxModel(path, threads=threads, output="saliency", device=device)


GRADIENT_METHOD = "vanilla gradient (Eq. 11): mean over bands of |d mean probability / d input|"


class OcclusionSaliency:
    """Fallback for a model without a saliency graph, from its prediction graph alone:
    each ``block`` x ``block`` block of a window is set to the bands' mean (0 after
    normalization) and the block gets |change of the window's mean probability|, divided
    by the number of occluded inputs. Coarser (one value per block), about
    (window/block)² times slower, and not the method's Eq. 11: outputs say so."""

    def __init__(self, model: OnnxModel, block: int = 16):
        self.model, self.block = model, block
        self.spec, self.path, self.providers = model.spec, model.path, model.providers
        self.fixed_window = model.fixed_window
        self.method = f"occlusion of {block}x{block} px blocks (fallback: the model has no saliency graph)"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        n, bands, height, width = batch.shape
        base = self.model.predict(batch).mean(axis=(1, 2))
        out = np.empty((n, height, width), np.float32)
        b = self.block
        for y in range(0, height, b):
            for x in range(0, width, b):
                occluded = batch.copy()
                occluded[:, :, y : y + b, x : x + b] = 0.0
                change = np.abs(base - self.model.predict(occluded).mean(axis=(1, 2)))
                inputs = bands * occluded[0, 0, y : y + b, x : x + b].size
                out[:, y : y + b, x : x + b] = (change / inputs)[:, None, None]
        return out


@dataclass
class SaliencyResult:
    valid_pixels: int
    threshold: float
    zone_count: int
    method: str


def saliency(
    inputs: ModelInput,
    model: Model,
    saliency_path: str,
    settings: WindowSettings,
    zones_path: str | None = None,
    percentile: float = 95.0,
    landslide_id: Callable[[ogr.Geometry], int | None] | None = None,
    progress: Progress = SILENT,
) -> SaliencyResult:
    """Write the saliency GeoTIFF and, optionally, the salient-zone polygons.

    ``landslide_id`` maps a zone's geometry to the id of the landslide it falls in.
    Outputs appear only when complete, as in :func:`core.detect.pipeline.detect`.
    """
    settings = settings.for_model(model.spec.patch_size, model.fixed_window)
    settings.check(model.spec.size_multiple, model.fixed_window)
    if not 0 < percentile < 100:
        raise ValueError(f"The percentile must be between 0 and 100 (got {percentile}).")
    method = model.method if isinstance(model, OcclusionSaliency) else GRADIENT_METHOD
    with AtomicOutputs() as atomic:
        raster_path = atomic.temporary(saliency_path)
        with ValueRasters([raster_path], inputs.grid, {"SALIENCY_METHOD": method, "MODEL": model.spec.name}) as raster:
            valid_pixels = predict_raster(inputs, model.predict, settings, raster.write_rows, progress.part(0.0, 0.85))
        if valid_pixels == 0:
            raise NoValidPixels("Every pixel of the input is nodata: there is nothing to explain.")
        zone_count, threshold = 0, raster_percentile(raster_path, percentile)
        if zones_path:
            # zones are read from the saliency's local mean: the gradient is noisy pixel by
            # pixel, and its top pixels alone make thousands of specks nobody can review
            smoothed_path = atomic.temporary(str(Path(zones_path).with_suffix(".zones-smoothed.tif")))
            write_local_mean(raster_path, smoothed_path, ZONE_SMOOTHING_PX)
            threshold = raster_percentile(smoothed_path, percentile)
            mask_path = atomic.temporary(str(Path(zones_path).with_suffix(".zones-mask.tif")))
            write_above(smoothed_path, mask_path, threshold)
            atomic.discard(smoothed_path)
            pixel_w, pixel_h = pixel_size_m(GdalReader(raster_path).grid)
            annotations = {"landslide_id": (ogr.OFTInteger, landslide_id)} if landslide_id else {}
            zone_count, _set_aside = polygonize_mask(
                mask_path, raster_path, atomic.temporary(zones_path), value_name="saliency",
                constants={"percentile": percentile, "threshold": threshold,
                           "method": "occlusion" if isinstance(model, OcclusionSaliency) else "gradient"},
                progress=progress.part(0.85, 1.0), min_area_m2=ZONE_MIN_PIXELS * pixel_w * pixel_h, smooth=True,
                layer_name=ZONES_LAYER, annotations=annotations,
            )
            atomic.discard(mask_path)
        atomic.commit()
    progress(1.0)
    return SaliencyResult(valid_pixels, threshold, zone_count, method)


def _strips(path: str, rows: int = 256):
    reader = GdalReader(path)
    for row0 in range(0, reader.grid.height, rows):
        values, valid = reader.read([1], 0, row0, reader.grid.width, min(rows, reader.grid.height - row0))
        yield row0, values[0], valid
        reader.release_cache()


def raster_percentile(path: str, percentile: float, bins: int = 4096) -> float:
    """The exact ``percentile`` (linear interpolation, as numpy's default) of a raster's
    valid values, in bounded memory: a histogram pass finds the bin that holds the
    wanted rank, and a second pass collects only that bin's values."""
    low, high, count = np.inf, -np.inf, 0
    for _row0, values, valid in _strips(path):
        if valid.any():
            v = values[valid]
            low, high, count = min(low, float(v.min())), max(high, float(v.max())), count + v.size
    if count == 0:
        raise NoValidPixels("The raster has no valid pixel.")
    if low == high:
        return low
    rank = percentile / 100.0 * (count - 1)
    below, above = int(np.floor(rank)), int(np.ceil(rank))
    edges = np.linspace(low, high, bins + 1)
    histogram = np.zeros(bins, np.int64)
    for _row0, values, valid in _strips(path):
        histogram += np.histogram(values[valid], bins=edges)[0]
    cumulative = np.cumsum(histogram)
    first_bin = int(np.searchsorted(cumulative, below, side="right"))
    last_bin = int(np.searchsorted(cumulative, above, side="right"))
    lo, hi = edges[first_bin], edges[last_bin + 1]
    before = int(cumulative[first_bin - 1]) if first_bin else 0
    chosen = []
    for _row0, values, valid in _strips(path):
        v = values[valid]
        chosen.append(v[(v >= lo) & ((v < hi) | (hi == high))])
    ordered = np.sort(np.concatenate(chosen))
    a, b = ordered[below - before], ordered[above - before]
    return float(a + (b - a) * (rank - below))


def box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2 r + 1)² square around each pixel (zero outside the array)."""
    padded = np.pad(values, radius + 1)[:-1, :-1]  # one extra leading row/column of zeros for the differences
    table = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    h, w = values.shape
    return (table[size:size + h, size:size + w] - table[:h, size:size + w]
            - table[size:size + h, :w] + table[:h, :w])


def write_local_mean(path: str, out_path: str, radius: int, rows: int = 256) -> None:
    """The mean of each pixel's valid neighbours within ``radius`` (nodata kept), in strips
    read with ``radius`` rows of margin so strips join seamlessly."""
    reader = GdalReader(path)
    grid = reader.grid
    with GeoTiffWriter(out_path, grid, np.float32, SALIENCY_NODATA) as out:
        for row0 in range(0, grid.height, rows):
            top, bottom = max(0, row0 - radius), min(grid.height, row0 + rows + radius)
            values, valid = reader.read([1], 0, top, grid.width, bottom - top)
            total = box_sum(np.where(valid, values[0], 0.0).astype(np.float64), radius)
            count = box_sum(valid.astype(np.float64), radius)
            mean = np.where(valid, total / np.maximum(count, 1.0), SALIENCY_NODATA).astype(np.float32)
            out.write_rows(row0, mean[row0 - top:min(row0 + rows, grid.height) - top])
            reader.release_cache()


def write_above(path: str, mask_path: str, threshold: float) -> None:
    """A 0/1 mask (255 nodata) of the raster's valid pixels strictly above ``threshold``."""
    grid = GdalReader(path).grid
    with GeoTiffWriter(mask_path, grid, np.uint8, 255) as out:
        for row0, values, valid in _strips(path):
            out.write_rows(row0, np.where(valid, values > threshold, 255).astype(np.uint8))


def landslide_lookup(polygons_path: str, zones_crs_wkt: str,
                     layer_name: str | None = None) -> Callable[[ogr.Geometry], int | None]:
    """A function giving the fid of the landslide polygon a zone overlaps most (or None);
    ``layer_name`` picks a layer of a multi-layer file (a GeoPackage)."""
    from osgeo import osr

    dataset = ogr.Open(polygons_path)
    layer = dataset.GetLayerByName(layer_name) if layer_name else dataset.GetLayer()
    target = osr.SpatialReference()
    target.ImportFromWkt(zones_crs_wkt)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source = layer.GetSpatialRef()
    transform = None
    if source is not None and not source.IsSame(target):
        source.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(target, source)

    def lookup(zone: ogr.Geometry) -> int | None:
        geometry = zone.Clone()
        if transform is not None:
            geometry.Transform(transform)
        layer.SetSpatialFilter(geometry)
        best, best_area = None, 0.0
        for feature in layer:
            overlap = feature.GetGeometryRef().Intersection(geometry)
            if overlap is not None and overlap.GetArea() > best_area:
                best, best_area = feature.GetFID(), overlap.GetArea()
        layer.SetSpatialFilter(None)
        return best

    lookup.dataset = dataset  # keep the layer's dataset alive as long as the function
    return lookup

