"""The streaming sliding-window engine and the Detect pipeline.

:func:`predict_raster` walks the raster one row of windows at a time. A row's windows
are read in column chunks of ``batch_size`` windows, sent to the network as one batch,
and accumulated (weighted, see :mod:`core.windows`) into a buffer one window high and
one raster wide. When a row is done, the buffer's top ``stride`` rows can no longer
change: they are normalized, handed to ``on_rows`` and dropped. Memory therefore grows
with the raster's width only through that buffer, and not at all with its height.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .ensemble import ModelEnsemble, flip_averaged
from .errors import Cancelled
from .inputs import ModelInput
from .model import OnnxModel
from .object_filter import ObjectFilter
from .outputs import AtomicOutputs, GeoTiffWriter, remove_dataset
from .polygons import boundary_summary, feature_count, polygonize_mask
from .readers import RasterReader
from .resolution import resampled_rows
from .spec import ModelSpec
from .windows import AxisGrid, Region, blend_weights_2d

log = logging.getLogger(__name__)

PROBABILITY_NODATA = -9999.0
MASK_NODATA = 255

ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]
RowsFn = Callable[[int, np.ndarray, np.ndarray], None]


#: Detect's default minimum polygon area: smaller specks are noise, not landslides to map
DEFAULT_MIN_AREA_M2 = 100.0


class NoValidPixels(ValueError):
    """Every pixel of the input is nodata."""


@dataclass(frozen=True)
class WindowSettings:
    window: int
    overlap: int
    batch_size: int = 8

    def check(self, size_multiple: int, fixed_window: int | None = None) -> None:
        if fixed_window is not None and self.window != fixed_window:
            raise ValueError(f"This model's graph takes windows of exactly {fixed_window} pixels: set the window to {fixed_window}.")
        if self.window % size_multiple:
            raise ValueError(
                f"The window size ({self.window}) must be a multiple of {size_multiple} for this model."
            )
        if not 0 <= self.overlap < self.window:
            raise ValueError(
                f"The overlap ({self.overlap}) must be at least 0 and smaller than the window ({self.window})."
            )
        if self.batch_size < 1:
            raise ValueError("The batch size must be at least 1.")


def predict_raster(
    inputs: ModelInput,
    predict: Callable[[np.ndarray], np.ndarray],
    settings: WindowSettings,
    on_rows: RowsFn,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    channels: int = 1,
    region: Region | None = None,
) -> int:
    """Run ``predict`` over the whole raster (or ``region`` of it) in blended windows,
    streaming rows out.

    ``predict`` maps a (N, bands, W, W) batch to (N, W, W) values, or to (N, channels,
    W, W) when ``channels`` > 1 (each channel blended alike). ``on_rows(row0, values,
    valid)`` receives finished rows top to bottom, (rows, width) or (channels, rows,
    width), with NaN where the input is invalid; ``row0`` counts from the region's top.
    The arrays are lent for the call only (they are the buffer's own rows; a receiver
    may overwrite them). Returns the number of valid pixels.

    A region runs exactly the windows of the whole raster's grid that touch it, batched
    at the same window columns, and sums them in the same order: its values are those
    of the whole-raster run, bit for bit, so a job split into regions merges back into
    exactly the single run (see :mod:`core.tiling`).
    """
    grid = inputs.grid
    region = region or Region(0, 0, grid.width, grid.height)
    gy = AxisGrid(grid.height, settings.window, settings.overlap)
    gx = AxisGrid(grid.width, settings.window, settings.overlap)
    win, stride, batch_size = settings.window, gy.stride, settings.batch_size
    rows_first, rows_last = gy.covering(region.row0, region.row0 + region.height)
    cols_first, cols_last = gx.covering(region.col0, region.col0 + region.width)
    origin = cols_first * stride  # padded column of the accumulator's first column
    weights = blend_weights_2d(win, settings.overlap)
    weight_sum_y = gy.weight_sum()
    out_cols = slice(gx.margin + region.col0 - origin, gx.margin + region.col0 + region.width - origin)
    weight_sum_x = gx.weight_sum()[origin:][out_cols]

    width = (cols_last - cols_first) * stride + win
    accumulator = np.zeros((channels, win, width), dtype=np.float32)
    valid_strip = np.zeros((win, width), dtype=bool)
    total_windows = (rows_last - rows_first + 1) * (cols_last - cols_first + 1)
    done_windows, valid_pixels = 0, 0
    # batches start at the same window columns as the whole raster's: a batch's windows
    # do not depend on where a region begins
    batch_starts = range(cols_first - cols_first % batch_size, cols_last + 1, batch_size)

    def finish_row(row: int) -> int:
        """Hand on the rows no later window touches; shift the buffers up one stride."""
        final = win if row == rows_last else stride
        top = row * stride  # padded row of the buffer's first row
        r_first = max(top, gy.margin + region.row0)
        r_last = min(top + final, gy.margin + region.row0 + region.height)
        count = 0
        if r_last > r_first:
            a, b = r_first - top, r_last - top
            # normalized in place: these rows leave the buffer below (no raster-wide temporaries)
            values = accumulator[:, a:b, out_cols]
            values /= weight_sum_y[r_first:r_last, None] * weight_sum_x[None, :]
            valid = valid_strip[a:b, out_cols].copy()
            values[:, ~valid] = np.nan
            count = int(valid.sum())
            on_rows(r_first - gy.margin - region.row0, values[0] if channels == 1 else values, valid)
        accumulator[:, :-stride] = accumulator[:, stride:]
        accumulator[:, -stride:] = 0.0
        return count

    def blocks():
        """Each batch's input, in order; the next one is read while the network runs
        (see :func:`_read_ahead`)."""
        for row in range(rows_first, rows_last + 1):
            for start in batch_starts:
                first, last = max(start, cols_first), min(start + batch_size, cols_last + 1)
                block_width = (last - first - 1) * stride + win
                stack, valid = inputs.read(gx.start(first), gy.start(row), block_width, win)
                yield row, first, last, stack, valid
            inputs.release_cache()

    row_done = rows_first
    for row, first, last, stack, valid in _read_ahead(blocks(), inputs.reads_in_any_thread):
        if row != row_done:
            valid_pixels += finish_row(row_done)
            row_done = row
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        px = first * stride - origin  # accumulator column of the block's first pixel
        valid_strip[:, px : px + valid.shape[1]] = valid
        offsets = [(j - first) * stride for j in range(first, last)]
        offsets = [o for o in offsets if valid[:, o : o + win].any()]
        if offsets:
            batch = np.stack([stack[:, :, o : o + win] for o in offsets])
            predicted = predict(batch)
            if channels == 1:
                predicted = predicted[:, None]
            for o, values in zip(offsets, predicted):
                accumulator[:, :, px + o : px + o + win] += values * weights
        done_windows += last - first
        if progress is not None:
            progress(done_windows / total_windows)
    return valid_pixels + finish_row(rows_last)


def resampled_onto(original: RasterReader, inputs: ModelInput, temporary: str, fill: Callable[[RowsFn], int],
                   on_rows: RowsFn, channels: int = 1) -> int:
    """Values made on ``inputs``' grid (the model's resolution) by ``fill(write)``, then
    resampled onto ``original``'s grid and handed to ``on_rows`` there; pixels invalid in
    ``original`` stay invalid. ``temporary`` (a path stem) holds the model-grid values
    meanwhile. Returns the valid pixel count on ``original``'s grid."""
    paths = [f"{temporary}.{k}.tif" for k in range(channels)]
    try:
        with ExitStack() as files:
            writers = [files.enter_context(GeoTiffWriter(p, inputs.grid, np.float32, PROBABILITY_NODATA))
                       for p in paths]

            def write(row0, values, valid):
                for writer, channel in zip(writers, values[None] if channels == 1 else values):
                    writer.write_rows(row0, np.where(valid, channel, PROBABILITY_NODATA))

            fill(write)
        valid_pixels, bands = 0, inputs.image_band_numbers
        for row0, values, valid in resampled_rows(paths, original.grid, PROBABILITY_NODATA):
            valid &= original.read(bands, 0, row0, original.grid.width, valid.shape[0])[1]
            valid_pixels += int(valid.sum())
            on_rows(row0, values[0] if channels == 1 else values, valid)
        return valid_pixels
    finally:
        for path in paths:
            remove_dataset(path)


def _read_ahead(items: Iterator, enabled: bool) -> Iterator:
    """``items``, each produced in a helper thread while the caller works on the one
    before: reading, deriving bands and normalizing (GDAL and NumPy release the GIL)
    overlap the network's run instead of adding to it."""
    if not enabled:
        yield from items
        return
    end = object()
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, end)
        while (item := pending.result()) is not end:
            pending = pool.submit(next, items, end)
            yield item


def write_values_raster(inputs: ModelInput, predict, settings: WindowSettings, path: str, nodata: float,
                        progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None,
                        metadata: dict[str, str] | None = None) -> int:
    """``predict`` over the raster, blended, into a float32 GeoTIFF; returns the valid pixel count."""
    with GeoTiffWriter(path, inputs.grid, np.float32, nodata, metadata) as out:
        return predict_raster(
            inputs, predict, settings,
            lambda row0, values, valid: out.write_rows(row0, np.where(valid, values, nodata).astype(np.float32)),
            progress, is_cancelled,
        )


@dataclass(frozen=True)
class DetectOutputs:
    probability: str
    mask: str
    polygons: str | None = None
    uncertainty: str | None = None  # an ensemble's per-pixel standard deviation over its members
    dropped: str | None = None  # polygons the model's object filter sets aside as likely false alarms


@dataclass
class DetectResult:
    valid_pixels: int
    landslide_pixels: int
    polygon_count: int
    providers: list[str]
    dropped_count: int = 0  # polygons set aside by the object filter
    filtered: bool = False  # whether the model's object filter ran


class DetectRasters:
    """Detect's probability and mask GeoTIFFs (and an ensemble's uncertainty), written
    row by row under temporary names from ``atomic``; used by one run and by the merge of
    a split run alike, so both write the same files from the same values."""

    def __init__(self, atomic: AtomicOutputs, outputs: DetectOutputs, grid, threshold: float,
                 uncertainty_note: str | None = None):
        self.threshold = threshold
        self.landslide_pixels = 0
        self.with_spread = outputs.uncertainty is not None
        self.probability_path = atomic.temporary(outputs.probability)
        self.mask_path = atomic.temporary(outputs.mask)
        self._files = ExitStack()
        self._mask = self._files.enter_context(GeoTiffWriter(self.mask_path, grid, np.uint8, MASK_NODATA))
        # one float32 writer per channel of the values: probability, then the ensemble's spread
        self._float_writers = [self._files.enter_context(
            GeoTiffWriter(self.probability_path, grid, np.float32, PROBABILITY_NODATA))]
        if self.with_spread:
            self._float_writers.append(self._files.enter_context(GeoTiffWriter(
                atomic.temporary(outputs.uncertainty), grid, np.float32, PROBABILITY_NODATA,
                {"UNCERTAINTY": uncertainty_note or "per-pixel standard deviation of an ensemble's members"})))

    def write_rows(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        """``values``: probability (rows, width), or (probability, spread) with an uncertainty output."""
        prob = values[0] if self.with_spread else values
        mask = (prob >= self.threshold).view(np.uint8)
        mask[~valid] = MASK_NODATA
        self.landslide_pixels += int((mask == 1).sum())
        self._mask.write_rows(row0, mask)
        # the rows are the caller's to drop: nodata is written into them rather than into copies
        for writer, channel in zip(self._float_writers, values if self.with_spread else values[None]):
            channel[~valid] = PROBABILITY_NODATA
            writer.write_rows(row0, channel)

    def close(self) -> None:
        self._files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_polygons(atomic: AtomicOutputs, rasters: DetectRasters, outputs: DetectOutputs, model_name: str,
                   min_area_m2: float, progress: ProgressFn, is_cancelled: CancelFn | None, annotations=None,
                   object_filter: ObjectFilter | None = None) -> tuple[int, int]:
    """The landslide polygons of a finished probability + mask pair, those the object
    filter sets aside in ``outputs.dropped``; returns (kept, set aside) counts."""
    dropped_path = atomic.temporary(outputs.dropped) if object_filter is not None and outputs.dropped else None
    kept = polygonize_mask(
        rasters.mask_path,
        rasters.probability_path,
        atomic.temporary(outputs.polygons),
        value_name="prob",
        constants={"model": model_name, "threshold": rasters.threshold},
        min_area_m2=min_area_m2,
        progress=progress,
        is_cancelled=is_cancelled,
        annotations=annotations or {},
        object_filter=object_filter,
        dropped_path=dropped_path,
    )
    return kept, feature_count(dropped_path) if dropped_path else 0


def model_object_filter(spec: ModelSpec, wanted: bool) -> ObjectFilter | None:
    """The spec's false-alarm filter when it has one and the caller wants it."""
    return ObjectFilter.from_spec(spec.extra, spec.name) if wanted else None


def detect(
    inputs: ModelInput,
    model: OnnxModel,
    outputs: DetectOutputs,
    settings: WindowSettings,
    threshold: float | None = None,
    min_area_m2: float = 0.0,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    saliency_model: OnnxModel | None = None,
    tta: bool = False,
    object_filter: bool = True,
) -> DetectResult:
    """Probability GeoTIFF, mask GeoTIFF and landslide polygons for the whole raster.

    ``model`` is an :class:`OnnxModel` or a :class:`ModelEnsemble`; for an ensemble,
    ``outputs.uncertainty`` receives the members' per-pixel standard deviation (blended
    over windows like the probability). ``tta`` averages the four flips of every window.
    When ``inputs`` reads the image resampled to the model's resolution (its
    ``original`` is set, see :mod:`core.resolution`), the outputs go on the original grid.
    With ``saliency_model`` (the model's saliency graph), each polygon also gets
    ``mean_saliency`` and ``boundary_saliency_share`` (see polygons.boundary_summary).
    With ``object_filter`` and a model whose spec carries one (see :mod:`core.object_filter`),
    polygons scored as likely false alarms go to ``outputs.dropped`` instead.
    Every output is written under a temporary name and moved into place only when all
    of them are complete: an error or a cancel leaves no output behind.
    """
    spec = model.spec
    objects = model_object_filter(spec, object_filter)
    settings.check(spec.size_multiple, model.fixed_window)
    threshold = spec.threshold if threshold is None else threshold
    report = progress or (lambda _fraction: None)
    with_spread = outputs.uncertainty is not None
    if with_spread and not isinstance(model, ModelEnsemble):
        raise ValueError("An uncertainty raster needs an ensemble of models: turn the ensemble on, or leave the "
                         "uncertainty output out.")
    predict, channels = (model.predict_with_spread, 2) if with_spread else (model.predict, 1)
    if tta:
        predict = flip_averaged(predict)

    original = inputs.original
    with AtomicOutputs() as atomic:
        note = f"per-pixel standard deviation of the members of the {spec.name}" if with_spread else None
        with DetectRasters(atomic, outputs, (original or inputs).grid, threshold, note) as rasters:
            share = 0.5 if saliency_model is not None else 0.9

            def run(write: RowsFn) -> int:
                return predict_raster(inputs, predict, settings, write, lambda f: report(share * f), is_cancelled,
                                      channels)

            valid_pixels = run(rasters.write_rows) if original is None else resampled_onto(
                original, inputs, rasters.probability_path + ".model-grid", run, rasters.write_rows, channels)
        if valid_pixels == 0:
            raise NoValidPixels(
                "Every pixel of the input is nodata (or outside the DEM): there is nothing to detect."
            )
        polygon_count = dropped_count = 0
        if outputs.polygons:
            annotations, saliency_path = {}, None
            if saliency_model is not None:
                saliency_path = atomic.temporary(str(Path(outputs.polygons).with_suffix(".saliency.tif")))
                saliency_settings = replace(settings, window=saliency_model.fixed_window or settings.window)
                write_values_raster(inputs, saliency_model.predict, saliency_settings, saliency_path,
                                    PROBABILITY_NODATA, lambda f: report(0.5 + 0.4 * f), is_cancelled)
                annotations = boundary_summary(saliency_path, "saliency")
            polygon_count, dropped_count = write_polygons(atomic, rasters, outputs, spec.name, min_area_m2,
                                                          lambda f: report(0.9 + 0.1 * f), is_cancelled,
                                                          annotations, objects)
            if saliency_path:
                atomic.discard(saliency_path)
        atomic.commit()
    report(1.0)
    landslide_pixels = rasters.landslide_pixels
    log.info("detect: %d valid px, %d landslide px, %d polygons (%d set aside)", valid_pixels, landslide_pixels,
             polygon_count, dropped_count)
    return DetectResult(valid_pixels, landslide_pixels, polygon_count, list(model.providers), dropped_count,
                        objects is not None)
