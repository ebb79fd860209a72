"""Writing outputs safely: streamed GeoTIFFs, and all-or-nothing publication."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from osgeo import gdal

from ..errors import UserError
from ..io.readers import Grid

gdal.UseExceptions()

_GDAL_TYPES = {np.dtype(np.float32): gdal.GDT_Float32, np.dtype(np.uint8): gdal.GDT_Byte,
               np.dtype(np.int32): gdal.GDT_Int32}


#: GeoTIFF metadata item of Detect's probability and mask: the threshold the mask was cut at
THRESHOLD_METADATA = "LANDSLIDE_THRESHOLD"


def threshold_made_at(path: str) -> float | None:
    """The threshold a Detect raster says its mask was cut at (None: not a Detect raster)."""
    try:
        value = gdal.Open(path).GetMetadataItem(THRESHOLD_METADATA)
        return float(value) if value else None
    except (RuntimeError, AttributeError, ValueError):
        return None


#: nodata of the float32 rasters of values streamed out of the engine (Detect's probability and
#: uncertainty, a split run's tiles, saliency): no model gives it
VALUES_NODATA = -9999.0

#: a receiver of values streamed row by row, top to bottom: ``(row0, values, valid)``, values
#: (rows, width) or (channels, rows, width); the arrays are lent for the call only
RowsFn = Callable[[int, np.ndarray, np.ndarray], None]


class GeoTiffWriter:
    """A single-band tiled, compressed GeoTIFF on ``grid``, written a few rows at a time.

    Rows must arrive top to bottom. They are buffered until a whole row of tiles is
    complete, written, and flushed out of GDAL's block cache: partial tiles would
    otherwise sit in the cache (growing memory with the raster) or be rewritten, which
    appends a second copy of each compressed tile to the file.
    """

    def __init__(self, path: str, grid: Grid, dtype, nodata: float, metadata: dict[str, str] | None = None):
        # DEFLATE at its fastest level, without the floating-point predictor: the default
        # INT8 models give at most 256 distinct probabilities and skipped windows give
        # zeros, whose repeats the predictor would scramble. On a 44 Mpx scene that writes
        # 4.3x faster, reads 2.5x faster and is a third smaller than level 6 with the
        # predictor (a float32 model's probability grows 19 %); every GIS reads DEFLATE.
        options = ["TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]
        self.path = path
        self.dataset = gdal.GetDriverByName("GTiff").Create(
            path, grid.width, grid.height, 1, _GDAL_TYPES[np.dtype(dtype)], options=options
        )
        self.dataset.SetGeoTransform(grid.geotransform)
        self.dataset.SetProjection(grid.crs_wkt)
        if metadata:
            self.dataset.SetMetadata(metadata)
        self.band = self.dataset.GetRasterBand(1)
        self.band.SetNoDataValue(nodata)
        self.block_rows = self.band.GetBlockSize()[1]
        self.buffer = np.empty((self.block_rows, grid.width), dtype=dtype)
        self.buffer_row0 = 0  # raster row of the buffer's first row
        self.buffered = 0

    def write_rows(self, row0: int, values: np.ndarray) -> None:
        if row0 != self.buffer_row0 + self.buffered:
            raise ValueError(f"rows must be written in order: expected row {self.buffer_row0 + self.buffered}, got {row0}")
        while len(values):
            take = min(self.block_rows - self.buffered, len(values))
            self.buffer[self.buffered : self.buffered + take] = values[:take]
            self.buffered += take
            values = values[take:]
            if self.buffered == self.block_rows:
                self._flush()

    def _flush(self) -> None:
        if self.buffered:
            rows, row0 = self.buffer[: self.buffered], self.buffer_row0
            _write(self.path, lambda: (self.band.WriteArray(rows, 0, row0), self.band.FlushCache()))
            self.buffer_row0 += self.buffered
            self.buffered = 0

    def close(self) -> None:
        """Write what is buffered and close the file; the file is closed even when that
        fails, so that it can be removed (an open dataset would be written again later)."""
        if self.dataset is not None:
            try:
                self._flush()
                _write(self.path, lambda: self.dataset.FlushCache())  # not the bound method: it holds the file
            finally:
                # after a failed write, GDAL's own close fails again (reported by GDAL as
                # an unraisable error); the file is closed all the same
                self.band = None
                self.dataset = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GeoTiffWriters:
    """Several :class:`GeoTiffWriter` on ``grid``, opened and closed as one (a ``with``
    block): ``files`` are (path, dtype, nodata, metadata), written by ``writers`` in that
    order. A file that fails to open closes those opened before it, so that they can be removed."""

    def __init__(self, grid: Grid, files: Sequence[tuple[str, Any, float, dict[str, str] | None]]):
        with contextlib.ExitStack() as opening:
            self.writers = [opening.enter_context(GeoTiffWriter(path, grid, dtype, nodata, metadata))
                            for path, dtype, nodata, metadata in files]
            self._files = opening.pop_all()

    def close(self) -> None:
        self._files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ValueRasters(GeoTiffWriters):
    """Rows of values (a :data:`RowsFn` receiver: :meth:`write_rows`), each channel written
    to its own float32 GeoTIFF in ``paths`` on ``grid``, :data:`VALUES_NODATA` where invalid."""

    def __init__(self, paths: Sequence[str], grid: Grid, metadata: dict[str, str] | None = None):
        super().__init__(grid, [(path, np.float32, VALUES_NODATA, metadata) for path in paths])

    def write_rows(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        channels = values[None] if len(self.writers) == 1 else values
        for writer, channel in zip(self.writers, channels):
            writer.write_rows(row0, np.where(valid, channel, VALUES_NODATA))


class OutputError(UserError, OSError):
    """An output could not be written; the message says why in the user's terms; an
    OSError too, so that an ``except OSError`` written before it was a UserError still catches it."""


def _write(path: str, action) -> None:
    """Run a GDAL write; a failure becomes an :class:`OutputError` that says what went
    wrong (GDAL reports a full disk as e.g. "TIFFAppendToStrip: Write error")."""
    try:
        action()
        return
    except RuntimeError as err:
        message = str(err)
    # raised outside the except block: the GDAL error's traceback (whose frames hold the
    # band and thus the open file, which would then keep its space when removed) is gone
    folder = Path(path).parent
    free = shutil.disk_usage(folder).free if folder.exists() else None
    if free is not None and free < 16 * 2**20:
        raise OutputError(f"The disk holding {folder} is full ({free // 1024} KiB of space left) while writing "
                          f"{Path(path).name}: free some space or choose another folder.")
    raise OutputError(f"Writing {Path(path).name} failed: {message}")


class AtomicOutputs:
    """Hands out temporary paths next to the final ones and moves them into place on
    :meth:`commit`; leaving the ``with`` block without a commit deletes them all.

    A run that fails or is cancelled therefore leaves no half-written output, and an
    existing file at the final path is only replaced by a complete one.
    """

    def __init__(self):
        self._pending: list[tuple[str, str]] = []
        self._claims: list[str] = []

    def temporary(self, final_path: str) -> str:
        final = Path(final_path)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._claim(final)
        temp = final.with_name(f".{final.stem}.partial-{uuid.uuid4().hex[:8]}{final.suffix}")
        self._pending.append((str(temp), str(final)))
        return str(temp)

    def _claim(self, final: Path) -> None:
        """A lock file beside an output for as long as this run may write it: a second run
        (another process, or another task of this QGIS) aiming at the same path stops at
        once instead of publishing a mix of both runs' files. A lock whose process is gone
        (a crash) is taken over."""
        lock = final.with_name(f".{final.name}.lock")
        for _attempt in range(2):
            try:
                descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    owner = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    owner = 0
                if owner and _process_alive(owner):
                    raise OutputError(f"Another run is writing {final} right now: choose another output path, or "
                                      "wait for that run to finish; nothing was written.") from None
                lock.unlink(missing_ok=True)  # left by a run that crashed
                continue
            with os.fdopen(descriptor, "w") as f:
                f.write(str(os.getpid()))
            self._claims.append(str(lock))
            return
        raise OutputError(f"Could not claim {final} for writing: another run keeps claiming it.")

    def _release(self) -> None:
        for lock in self._claims:
            with contextlib.suppress(FileNotFoundError):
                os.remove(lock)
        self._claims.clear()

    def discard(self, temp_path: str) -> None:
        """Remove an intermediate file now: it is not to be published."""
        remove_dataset(temp_path)
        self._pending = [(t, f) for t, f in self._pending if t != temp_path]

    def commit(self) -> None:
        for temp, final in self._pending:
            remove_dataset(final)
            for temp_file, final_file in zip(dataset_files(temp), dataset_files(final)):
                if os.path.exists(temp_file) or temp_file == temp:
                    os.replace(temp_file, final_file)
        self._pending.clear()
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for temp, _final in self._pending:
            remove_dataset(temp)
        self._pending.clear()
        self._release()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


#: the other files of a dataset stored as several, by the main file's extension
_MEMBERS = {".shp": (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")}


def dataset_files(path: str) -> list[str]:
    """The files a dataset at ``path`` is made of, main file first (a Shapefile: .shp,
    .shx, .dbf, .prj, ...), whether they exist or not."""
    suffix = Path(path).suffix
    members = _MEMBERS.get(suffix.lower(), ())
    if suffix.isupper():
        members = tuple(m.upper() for m in members)
    return [path] + [str(Path(path).with_suffix(m)) for m in members] + ([path + ".xml"] if members else [])


def remove_dataset(path: str) -> None:
    """Remove a dataset's files and the sidecars GDAL/SQLite may have left beside it."""
    for candidate in (*dataset_files(path), path + ".aux.xml", path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.remove(candidate)
        except FileNotFoundError:
            pass
