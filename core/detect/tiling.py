"""One Detect job split into independent tiles, run anywhere, merged into the single run.

A tile is a block of output pixels. It runs exactly the windows of the whole raster's
grid that touch it (the overlap is its halo) and normalizes with the whole grid's blend
weights, so its probabilities are those of the single-machine run bit for bit (see
:func:`core.engine.streaming.predict_raster`). Each tile writes its probability GeoTIFF into a
folder that every worker sees; the merge streams them into the final probability and
mask, written by the same code as a single run, and polygonizes once, so polygons are
not cut at tile edges.

Tiles run in this process, or as tasks on a Dask distributed cluster (an optional
dependency): a ``LocalCluster`` on one machine or the address of a running scheduler.
Workers must see the image, the model and the output folder at the same paths, and
import this package (start them with the plugin folder on ``PYTHONPATH``).
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from osgeo import gdal

from ..engine.streaming import PROBABILITY_NODATA, WindowSettings, predict_raster, resampled_onto
from ..detect.pipeline import DetectOutputs, DetectRasters, DetectResult, model_object_filter, write_polygons
from ..errors import NoValidPixels
from ..errors import Cancelled
from ..imagery.inputs import ModelInput
from ..model.onnx_model import AUTO_DEVICE, OnnxModel
from ..io.outputs import AtomicOutputs, GeoTiffWriter
from ..io.readers import GdalReader, Grid, dem_on_grid, sub_grid
from ..io.resolution import gdal_reader_on, grid_for_model
from ..imagery.scaling import BandScaling
from ..engine.windows import Region

log = logging.getLogger(__name__)

DEFAULT_TILE_SIZE = 4096  # px: ~1,800 windows of 128 px, a few minutes of one CPU core
MERGE_ROWS = 512


@dataclass(frozen=True)
class DetectJob:
    """Everything a worker needs to compute any tile of one Detect run (picklable)."""

    image: str
    model: str
    band_numbers: dict[str, int]
    settings: WindowSettings
    dem: str | None = None
    scaling: BandScaling | None = None
    threads: int = 0  # ONNX Runtime threads per tile task; 0: one per core
    device: str = AUTO_DEVICE
    match_resolution: bool = True  # run at the model's training resolution (core.io.resolution)

    def inputs(self, model: OnnxModel) -> ModelInput:
        """The model's input; tiles are regions of its grid (the model's resolution when
        the image is resampled to it, with the image itself as ``original``)."""
        image = original = GdalReader(self.image)
        grid = grid_for_model(image, model.spec) if self.match_resolution else None
        if grid is not None:
            image = gdal_reader_on(original, grid)
        dem = dem_on_grid(self.dem, image.grid) if self.dem and model.spec.needs_dem else None
        return ModelInput(model.spec, image, self.band_numbers, dem, self.scaling,
                          original=original if grid is not None else None)


@dataclass(frozen=True)
class TileResult:
    region: Region
    path: str
    valid_pixels: int


def plan_tiles(width: int, height: int, tile_size: int = DEFAULT_TILE_SIZE) -> list[Region]:
    """Blocks of at most ``tile_size`` pixels a side covering a ``width`` x ``height`` raster, row by row."""
    if tile_size < 1:
        raise ValueError("The tile size must be at least 1 pixel.")
    nx, ny = math.ceil(width / tile_size), math.ceil(height / tile_size)
    xs = [round(i * width / nx) for i in range(nx + 1)]
    ys = [round(i * height / ny) for i in range(ny + 1)]
    return [Region(xs[i], ys[j], xs[i + 1] - xs[i], ys[j + 1] - ys[j]) for j in range(ny) for i in range(nx)]


@functools.lru_cache(maxsize=2)
def cached_model(path: str, threads: int, device: str) -> OnnxModel:
    """One session per process and model, reused by all its tiles (and the client's checks)."""
    return OnnxModel(path, threads=threads, device=device)


def run_tile(job: DetectJob, region: Region, folder: str) -> TileResult:
    """Compute one tile's probabilities into ``folder``; the file appears only when complete."""
    model = cached_model(job.model, job.threads, job.device)
    inputs = job.inputs(model)
    grid = sub_grid(inputs.grid, region.col0, region.row0, region.width, region.height)
    final = str(Path(folder) / f"tile_{region.row0}_{region.col0}.tif")
    with AtomicOutputs() as atomic:
        with GeoTiffWriter(atomic.temporary(final), grid, np.float32, PROBABILITY_NODATA) as out:
            valid_pixels = predict_raster(
                inputs, model.predict, job.settings,
                lambda row0, values, valid: out.write_rows(row0, np.where(valid, values, PROBABILITY_NODATA)),
                region=region,
            )
        atomic.commit()
    return TileResult(region, final, valid_pixels)


TileRunner = Callable[[DetectJob, list[Region], str], Iterable[TileResult]]


def run_in_process(job: DetectJob, regions: list[Region], folder: str) -> Iterator[TileResult]:
    for region in regions:
        yield run_tile(job, region, folder)


@contextmanager
def dask_runner(scheduler: str | None = None, workers: int | None = None) -> Iterator[TileRunner]:
    """A tile runner on Dask distributed: the scheduler at ``scheduler`` (e.g.
    ``tcp://10.0.0.5:8786``), or a LocalCluster of ``workers`` single-threaded processes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RuntimeError('Running tiles on a cluster needs Dask distributed: pip install "dask[distributed]"') from None
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))

        def run(job: DetectJob, regions: list[Region], folder: str) -> Iterator[TileResult]:
            futures = [client.submit(run_tile, job, region, folder, pure=False) for region in regions]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)

        yield run


def detect_tiled(
    job: DetectJob,
    outputs: DetectOutputs,
    threshold: float | None = None,
    min_area_m2: float = 0.0,
    tile_size: int = DEFAULT_TILE_SIZE,
    runner: TileRunner = run_in_process,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    object_filter: bool = True,
) -> DetectResult:
    """Detect split into tiles run by ``runner``, merged into the outputs of
    :func:`core.detect.pipeline.detect` (equal pixel for pixel). Tiles go to a folder beside the
    probability output, removed afterwards whatever happens."""
    model = cached_model(job.model, job.threads, job.device)
    spec = model.spec
    job.settings.check(spec.size_multiple, model.fixed_window)
    inputs = job.inputs(model)  # fails here, in the user's terms, before any worker starts
    threshold = spec.threshold if threshold is None else threshold
    report = progress or (lambda _fraction: None)
    grid, original = inputs.grid, inputs.original
    regions = plan_tiles(grid.width, grid.height, tile_size)
    folder = Path(outputs.probability).parent / f".tiles-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        results = []
        for result in runner(job, regions, str(folder)):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            results.append(result)
            report(0.8 * len(results) / len(regions))
            log.info("tile %d/%d done (%s)", len(results), len(regions), result.region)
        if sum(r.valid_pixels for r in results) == 0:
            raise NoValidPixels("Every pixel of the input is nodata (or outside the DEM): there is nothing to detect.")
        with AtomicOutputs() as atomic:
            with DetectRasters(atomic, outputs, (original or inputs).grid, threshold) as rasters:
                def merge(write) -> int:
                    return merge_rows(grid, results, write)

                valid = merge(rasters.write_rows) if original is None else resampled_onto(
                    original, inputs, rasters.probability_path + ".model-grid", merge, rasters.write_rows)
            count = dropped = 0
            objects = model_object_filter(spec, object_filter)
            if outputs.polygons:
                count, dropped = write_polygons(atomic, rasters, outputs, spec.name, min_area_m2,
                                                lambda f: report(0.9 + 0.1 * f), is_cancelled, None, objects)
            atomic.commit()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(1.0)
    return DetectResult(valid, rasters.landslide_pixels, count, list(model.providers), dropped, objects is not None)


def merge_rows(grid: Grid, results: list[TileResult], on_rows) -> int:
    """Stream the tiles' probabilities out as whole raster rows, top to bottom:
    ``on_rows(row0, probability, valid)``; returns the valid pixel count."""
    valid_pixels = 0
    by_band: dict[int, list[TileResult]] = {}
    for result in results:
        by_band.setdefault(result.region.row0, []).append(result)
    covered = sorted(by_band)
    for row0 in covered:
        band = sorted(by_band[row0], key=lambda r: r.region.col0)
        height = band[0].region.height
        datasets = [gdal.Open(r.path) for r in band]
        for r in range(0, height, MERGE_ROWS):
            rows = min(MERGE_ROWS, height - r)
            values = np.empty((rows, grid.width), dtype=np.float32)
            for tile, dataset in zip(band, datasets):
                cols = slice(tile.region.col0, tile.region.col0 + tile.region.width)
                values[:, cols] = dataset.GetRasterBand(1).ReadAsArray(0, r, tile.region.width, rows)
            valid = values != PROBABILITY_NODATA
            valid_pixels += int(valid.sum())
            on_rows(row0 + r, values, valid)
        datasets.clear()
    return valid_pixels
