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
import this package as ``landslide_mapper`` (start them with the folder that holds the
plugin folder on ``PYTHONPATH``; see plugin_root.py). Tiles run the same request as a
single run (:mod:`core.detect.request`): TTA, ensembles and their uncertainty included.
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

from ..engine.progress import SILENT, Progress
from ..engine.streaming import predict_raster
from ..engine.windows import Region
from ..imagery.inputs import ModelInput
from ..imagery.recipe import model_input
from ..imagery.scaling import BandScaling
from ..io.outputs import VALUES_NODATA, AtomicOutputs, RowsFn, ValueRasters
from ..io.readers import GdalReader, Grid, sub_grid
from ..model.protocol import DetectModel
from .pipeline import DetectOutputs, DetectResult, detect
from .request import DetectRequest, load_model, predictor

log = logging.getLogger(__name__)

DEFAULT_TILE_SIZE = 4096  # px: ~1,800 windows of 128 px, a few minutes of one CPU core
MERGE_ROWS = 512


@dataclass(frozen=True)
class DetectJob:
    """Everything a worker needs to compute any tile of one Detect run (picklable)."""

    request: DetectRequest
    image: str
    scaling: BandScaling | None  # chosen once, for the whole raster, by the client
    channels: int = 1  # 2: probability and an ensemble's spread

    def inputs(self, model) -> ModelInput:
        """The model's input; tiles are regions of its grid (the model's resolution when
        the image is resampled to it)."""
        return model_input(self.request.inputs, model.spec, GdalReader(self.image), scaling=self.scaling)


@dataclass(frozen=True)
class TileResult:
    region: Region
    paths: tuple[str, ...]  # one single-band GeoTIFF per channel
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
def _cached_model(models: tuple[str, ...], precision: str, class_name: str | None, threads: int,
                  device: str) -> DetectModel:
    return load_model(DetectRequest(models, precision=precision, class_name=class_name, threads=threads,
                                    device=device))


def cached_model(request: DetectRequest) -> DetectModel:
    """One session per process and model, reused by all its tiles (and the client's checks)."""
    return _cached_model(request.models, request.precision, request.class_name, request.threads, request.device)


def run_tile(job: DetectJob, region: Region, folder: str) -> TileResult:
    """Compute one tile's probabilities into ``folder``; the files appear only when complete."""
    model = cached_model(job.request)
    inputs = job.inputs(model)
    grid = sub_grid(inputs.grid, region.col0, region.row0, region.width, region.height)
    stem = Path(folder) / f"tile_{region.row0}_{region.col0}"
    finals = tuple(f"{stem}.{channel}.tif" for channel in range(job.channels))
    with AtomicOutputs() as atomic:
        with ValueRasters([atomic.temporary(path) for path in finals], grid) as tile_values:
            valid_pixels = predict_raster(inputs, predictor(model, job.request.tta, job.channels > 1),
                                          job.request.window_settings(model), tile_values.write_rows,
                                          channels=job.channels, region=region)
        atomic.commit()
    return TileResult(region, finals, valid_pixels)


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


@dataclass
class TiledProbabilities:
    """A :class:`core.detect.pipeline.ProbabilitySource`: the job's tiles, run by
    ``runner`` into ``folder``, merged into whole rows."""

    job: DetectJob
    grid: Grid
    runner: TileRunner
    folder: str
    tile_size: int = DEFAULT_TILE_SIZE

    def fill(self, write: RowsFn, progress: Progress) -> int:
        regions = plan_tiles(self.grid.width, self.grid.height, self.tile_size)
        results = []
        for result in self.runner(self.job, regions, self.folder):
            progress.check()
            results.append(result)
            progress(len(results) / len(regions))
            log.info("tile %d/%d done (%s)", len(results), len(regions), result.region)
        return merge_rows(self.grid, results, write, self.job.channels)


def detect_tiled(
    request: DetectRequest,
    image: str,
    inputs: ModelInput,
    model: DetectModel,
    outputs: DetectOutputs,
    tile_size: int = DEFAULT_TILE_SIZE,
    runner: TileRunner = run_in_process,
    progress: Progress = SILENT,
) -> DetectResult:
    """:func:`core.detect.pipeline.detect` of ``request`` on the raster file ``image``,
    its probabilities computed in tiles run by ``runner`` (equal pixel for pixel to one
    run). ``inputs`` is the client's own input for the image (its scaling is shipped to
    every tile). Tiles go to a folder beside the probability output, removed afterwards
    whatever happens."""
    job = DetectJob(request, image, inputs.scaling, outputs.channels)
    folder = Path(outputs.probability).parent / f".tiles-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        source = TiledProbabilities(job, inputs.grid, runner, str(folder), tile_size)
        return detect(request, inputs, model, outputs, source, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def merge_rows(grid: Grid, results: list[TileResult], on_rows, channels: int = 1) -> int:
    """Stream the tiles' values out as whole raster rows, top to bottom:
    ``on_rows(row0, values, valid)``, values (rows, width) or (channels, rows, width);
    returns the valid pixel count."""
    valid_pixels = 0
    by_band: dict[int, list[TileResult]] = {}
    for result in results:
        by_band.setdefault(result.region.row0, []).append(result)
    for row0 in sorted(by_band):
        band = sorted(by_band[row0], key=lambda r: r.region.col0)
        height = band[0].region.height
        datasets = [[gdal.Open(path) for path in r.paths] for r in band]
        for r in range(0, height, MERGE_ROWS):
            rows = min(MERGE_ROWS, height - r)
            values = np.empty((channels, rows, grid.width), dtype=np.float32)
            for tile, tile_datasets in zip(band, datasets):
                cols = slice(tile.region.col0, tile.region.col0 + tile.region.width)
                for channel, dataset in enumerate(tile_datasets):
                    values[channel, :, cols] = dataset.GetRasterBand(1).ReadAsArray(0, r, tile.region.width, rows)
            valid = (values != VALUES_NODATA).all(axis=0)
            valid_pixels += int(valid.sum())
            on_rows(row0 + r, values[0] if channels == 1 else values, valid)
        datasets.clear()
    return valid_pixels
