"""The streaming sliding-window engine: any model over any raster, in bounded memory.

:func:`predict_raster` walks the raster one row of windows at a time. A row's windows
are read in column chunks of ``batch_size`` windows, sent to the network as one batch,
and accumulated (weighted, see :mod:`core.engine.windows`) into a buffer one window high and
one raster wide. When a row is done, the buffer's top ``stride`` rows can no longer
change: they are normalized, handed to ``on_rows`` and dropped. Memory therefore grows
with the raster's width only through that buffer, and not at all with its height.

What becomes of the rows is the receiver's business: GeoTIFFs (:class:`core.io.outputs.ValueRasters`),
resampling back onto the image's grid (:func:`core.io.resolution.resampled_onto`), Detect's outputs.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from ..engine.windows import AxisGrid, Region, blend_weights_2d, fill_from_nearest_valid
from ..io.outputs import RowsFn
from ..io.readers import Grid
from .progress import SILENT, Progress

log = logging.getLogger(__name__)


class WindowSource(Protocol):
    """What the engine reads windows from: the model's normalized input
    (:class:`core.imagery.inputs.ModelInput`, a layer above: the engine knows nothing of how it is built)."""

    grid: Grid
    image_band_numbers: Sequence[int]  # the image bands it reads: they decide which pixels are valid

    @property
    def reads_in_any_thread(self) -> bool: ...

    def read(self, x0: int, y0: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]: ...

    def release_cache(self) -> None: ...


#: WindowSettings.window meaning "the model's own": its fixed window, else the patch size it was trained on
MODEL_WINDOW = 0

#: windows per network run: 4 runs as fast as 8 on two CPU cores (the Bijie mosaic, two rounds back to
#: back: 20.5 and 26.6 s against 21.0 and 30.3 s) with 0.7x the peak memory (ONNX Runtime's working
#: memory grows with the batch: 276-283 MiB against 394-403 for the command line); 2 saves 50 MiB more
#: and is slower
DEFAULT_BATCH_SIZE = 4


@dataclass(frozen=True)
class WindowSettings:
    window: int  # pixels; MODEL_WINDOW: the model's own
    overlap: int
    batch_size: int = DEFAULT_BATCH_SIZE

    def for_model(self, patch_size: int, fixed_window: int | None = None) -> "WindowSettings":
        """These settings with the model's own window where none was chosen: a model sees
        at its best the context it was trained with."""
        if self.window != MODEL_WINDOW:
            return self
        return replace(self, window=fixed_window or patch_size)

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
    inputs: WindowSource,
    predict: Callable[[np.ndarray], np.ndarray],
    settings: WindowSettings,
    on_rows: RowsFn,
    progress: Progress = SILENT,
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
    exactly the single run (see :mod:`core.detect.tiling`).
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
    progress.info(f"Running the model over {total_windows:,} windows of {win} x {win} pixels "
                  f"({settings.overlap} px overlap).")
    count = progress.counter(total_windows, "windows")
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
        """Each batch's windows, ready for the network, in order; the next batch is read and
        made while the network runs (see :func:`_read_ahead`)."""
        for row in range(rows_first, rows_last + 1):
            for start in batch_starts:
                first, last = max(start, cols_first), min(start + batch_size, cols_last + 1)
                block_width = (last - first - 1) * stride + win
                stack, valid = inputs.read(gx.start(first), gy.start(row), block_width, win)
                offsets = [(j - first) * stride for j in range(first, last)]
                offsets = [o for o in offsets if valid[:, o : o + win].any()]
                # nodata continues the nearest valid pixels, window by window (so a window's input
                # is the same whichever block or region it was read in)
                batch = np.stack([fill_from_nearest_valid(stack[:, :, o : o + win], valid[:, o : o + win])
                                  for o in offsets]) if offsets else None
                yield row, first, last, batch, offsets, valid
            inputs.release_cache()

    row_done = rows_first
    for row, first, last, batch, offsets, valid in _read_ahead(blocks(), inputs.reads_in_any_thread):
        if row != row_done:
            valid_pixels += finish_row(row_done)
            row_done = row
        progress.check()
        px = first * stride - origin  # accumulator column of the block's first pixel
        valid_strip[:, px : px + valid.shape[1]] = valid
        if offsets:
            predicted = predict(batch)
            if channels == 1:
                predicted = predicted[:, None]
            for o, values in zip(offsets, predicted):
                accumulator[:, :, px + o : px + o + win] += values * weights
        done_windows += last - first
        count(done_windows)
    return valid_pixels + finish_row(rows_last)


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

