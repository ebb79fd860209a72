"""Pixel readers: a window of a raster -> float32 bands + validity mask.

The engine reads pixels only through :class:`RasterReader`, so it runs the same on a
GDAL dataset (CLI, tests, training data) and on any QGIS raster provider (the adapter
in ``algorithms/``), including layers GDAL cannot open.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from osgeo import gdal, gdal_array, osr

from ..model.spec import RGB

gdal.UseExceptions()
osr.UseExceptions()


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: size, geotransform (GDAL order) and CRS as WKT."""

    width: int
    height: int
    geotransform: tuple[float, float, float, float, float, float]
    crs_wkt: str

    @property
    def is_geographic(self) -> bool:
        srs = osr.SpatialReference()
        srs.ImportFromWkt(self.crs_wkt)
        return bool(srs.IsGeographic())

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the grid's CRS."""
        gt = self.geotransform
        xs = (gt[0], gt[0] + self.width * gt[1])
        ys = (gt[3], gt[3] + self.height * gt[5])
        return min(xs), min(ys), max(xs), max(ys)


_ROLE_NAMES = {
    "red": {"red", "r", "redband"}, "green": {"green", "g", "greenband"}, "blue": {"blue", "b", "blueband"},
    "nir": {"nir", "near-infrared", "near infrared", "nearinfrared", "infrared", "nir1", "nirband"},
}


def role_of(*names: str) -> str | None:
    """'red', 'green', 'blue' or 'nir' from a band's description or colour
    interpretation name ("Red", "NIR", "near-infrared", ...), or None."""
    for name in names:
        key = (name or "").strip().lower().replace("_", " ")
        for role, spellings in _ROLE_NAMES.items():
            if key in spellings or key.replace(" ", "") in spellings:
                return role
    return None


def roles_by_band(names_per_band) -> dict[str, int]:
    """{role: first band number} from each band's names (description, colour interpretation)."""
    roles: dict[str, int] = {}
    for number, names in enumerate(names_per_band, start=1):
        role = role_of(*names)
        if role and role not in roles:
            roles[role] = number
    return roles


DEFAULT_BANDS = {"red": 1, "green": 2, "blue": 3}


def band_numbers(roles: dict[str, int], given: dict[str, int]) -> dict[str, int]:
    """Band numbers by role: those ``given``, else those the raster's band names say
    (``roles``, see :func:`picked_bands`), else red 1, green 2, blue 3."""
    return {**DEFAULT_BANDS, **picked_bands(roles), **given}


def picked_bands(roles: dict[str, int]) -> dict[str, int]:
    """Band numbers from the raster's own band names: used only when they name red,
    green and blue all three (a partial naming would mix with the 1-2-3 default);
    near-infrared whenever it is named."""
    picked = {k: roles[k] for k in RGB} if set(RGB) <= set(roles) else {}
    if "nir" in roles:
        picked["nir"] = roles["nir"]
    return picked


@dataclass(frozen=True)
class BandStorage:
    """How a band stores its values: what input scaling needs to know of the data's scale."""

    kind: str  # "byte", "integer" or "float"
    bits: int | None = None  # significant bits the file declares (GDAL's NBITS), if any
    maximum: float | None = None  # the band's maximum as the file records it (statistics), if any


def storage_kind(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return "byte"
    return "integer" if np.issubdtype(dtype, np.integer) else "float"


class Palette:
    """The colours of a paletted image: one band of colour indices and its colour table,
    which QGIS shows in colour. Read as those colours' red, green and blue (bands 1, 2 and
    3, 8-bit); a pixel whose index has no entry or a fully transparent one is invalid."""

    band_count = 3
    roles = {"red": 1, "green": 2, "blue": 3}
    storage = BandStorage("byte")

    def __init__(self, entries: dict[int, tuple[int, int, int, int]]):
        """``entries``: index -> (red, green, blue, alpha), each 0-255."""
        size = max(entries, default=-1) + 1
        self.colours = np.zeros((size, 3), np.float32)
        self.visible = np.zeros(size, bool)
        for index, (red, green, blue, alpha) in entries.items():
            if index >= 0:
                self.colours[index] = red, green, blue
                self.visible[index] = alpha > 0

    @classmethod
    def of(cls, band: gdal.Band) -> Palette | None:
        """The palette of a GDAL band whose values are colour indices, else None."""
        table = band.GetColorTable()
        if table is None or not table.GetCount() or band.GetColorInterpretation() != gdal.GCI_PaletteIndex:
            return None
        return cls({i: table.GetColorEntry(i) for i in range(table.GetCount())})

    def read(self, bands, indices: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The colours (bands 1-3: red, green, blue) of the ``indices`` read from the index
        band, with ``valid`` (the index band's own validity) narrowed to visible colours."""
        whole = np.isfinite(indices) & (indices >= 0) & (indices < len(self.visible)) & (indices == np.round(indices))
        at = np.where(whole, indices, 0).astype(np.intp)
        valid = valid & whole & self.visible[at]
        return np.stack([self.colours[at, number - 1] for number in bands]), valid


class RasterReader(Protocol):
    grid: Grid
    band_count: int
    #: whether windows may be read in a helper thread (GDAL: yes; a QGIS provider, which
    #: may be a web service tied to its thread: no)
    reads_in_any_thread: bool

    def release_cache(self) -> None:
        """Forget cached pixels above the rows read so far (called after each strip)."""
        ...

    def band_storage(self, number: int) -> BandStorage:
        """How band ``number`` (1-based) stores its values."""
        ...

    def band_roles(self) -> dict[str, int]:
        """Band numbers of the bands whose names say red, green, blue or nir."""
        ...

    def read(self, bands: Sequence[int], x0: int, y0: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Bands (1-based numbers) of the window as float32 (len(bands), height, width),
        and a bool (height, width) mask that is False where any band is nodata."""
        ...

    def on_grid(self, grid: Grid, window: tuple[int, int, int, int] | None = None) -> RasterReader:
        """A reader of this raster's pixels (those of ``window``: col0, row0, width,
        height; default all) resampled onto ``grid``, which covers the same extent at
        another pixel size: area average when shrinking, bilinear when enlarging; lazily."""
        ...


class UnreadableRaster(RuntimeError):
    """Pixels of a raster could not be read: the message names the file, the place and the
    likely cause (a damaged or truncated file, a VRT whose source is missing)."""

    def __init__(self, dataset: gdal.Dataset, err: Exception, window: tuple[int, int, int, int]):
        name = dataset.GetDescription()
        missing = list(dict.fromkeys(f for f in vrt_sources(name) if not os.path.exists(f)))
        x0, y0, width, height = window
        where = f"pixels {x0}-{x0 + width}, rows {y0}-{y0 + height}"
        if missing:
            cause = f"it is a VRT that points at file(s) that do not exist: {', '.join(missing)}. Restore them"
        else:
            cause = ("the file is damaged or incomplete (a truncated download or copy, or a bad disk block). "
                     "Copy or download it again, or check it with gdalinfo -checksum")
        super().__init__(f"Could not read {name} ({where}): {cause}; nothing was written. (GDAL said: {err})")
        self.path = name


def vrt_sources(path: str) -> list[str]:
    """The files a VRT's bands read from (none for any other raster)."""
    if not path.lower().endswith(".vrt") or not os.path.isfile(path):
        return []
    import xml.etree.ElementTree as ElementTree

    sources = []
    for element in ElementTree.parse(path).iter("SourceFilename"):
        source = element.text or ""
        if element.get("relativeToVRT") == "1":
            source = os.path.join(os.path.dirname(path), source)
        sources.append(source)
    return sources


class GdalReader:
    """Reads any GDAL-readable raster; nodata, alpha bands, masks and NaN mark invalid pixels."""

    reads_in_any_thread = True  # one thread at a time: the engine reads from one helper thread

    def __init__(self, source: str | gdal.Dataset, colours: bool = True):
        """``colours``: read one band of colour indices that has a colour table (a paletted
        image) as its colours (see :class:`Palette`); False: as the indices (a class raster)."""
        self.dataset = gdal.Open(source) if isinstance(source, str) else source
        ds = self.dataset
        self.palette = Palette.of(ds.GetRasterBand(1)) if colours and ds.RasterCount == 1 else None
        self.band_count = Palette.band_count if self.palette else ds.RasterCount
        self.grid = Grid(ds.RasterXSize, ds.RasterYSize, tuple(ds.GetGeoTransform()), ds.GetProjection())

    def release_cache(self) -> None:
        """Drop this dataset's blocks from GDAL's cache: the engine reads each strip of
        the raster once, so keeping them would only grow memory with the raster."""
        self.dataset.FlushCache()

    def band_storage(self, number: int) -> BandStorage:
        if self.palette:
            return self.palette.storage
        band = self.dataset.GetRasterBand(number)
        kind = storage_kind(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType) or np.float64)
        bits = band.GetMetadataItem("NBITS", "IMAGE_STRUCTURE")
        maximum = band.GetMetadataItem("STATISTICS_MAXIMUM")
        return BandStorage(kind, int(bits) if bits and bits.isdigit() else None,
                           float(maximum) if maximum not in (None, "") else None)

    def band_roles(self) -> dict[str, int]:
        if self.palette:
            return dict(self.palette.roles)
        bands = [self.dataset.GetRasterBand(n) for n in range(1, self.band_count + 1)]
        return roles_by_band((b.GetDescription(), gdal.GetColorInterpretationName(b.GetColorInterpretation()))
                             for b in bands)

    def read(self, bands, x0, y0, width, height):
        try:
            return self._read(bands, x0, y0, width, height)
        except RuntimeError as err:
            raise UnreadableRaster(self.dataset, err, (x0, y0, width, height)) from None

    def on_grid(self, grid: Grid, window: tuple[int, int, int, int] | None = None) -> GdalReader:
        col0, row0, width, height = window or (0, 0, self.grid.width, self.grid.height)
        shrinking = grid.width < width
        if self.palette:  # colour indices are not quantities: the commonest, or the nearest, stays a colour
            resampling = "mode" if shrinking else "nearest"
        else:
            resampling = "average" if shrinking else "bilinear"
        vrt = gdal.Translate("", self.dataset, format="VRT", srcWin=[col0, row0, width, height],
                             width=grid.width, height=grid.height, resampleAlg=resampling)
        resampled = GdalReader(vrt, colours=self.palette is not None)
        resampled.grid = grid  # the CRS the user may have assigned in QGIS, not the file's
        return resampled

    def _read(self, bands, x0, y0, width, height):
        if self.palette:
            indices, valid = self._read_bands([1], x0, y0, width, height)
            return self.palette.read(bands, indices[0], valid)
        return self._read_bands(bands, x0, y0, width, height)

    def _read_bands(self, bands, x0, y0, width, height):
        out = np.empty((len(bands), height, width), dtype=np.float32)
        valid = np.ones((height, width), dtype=bool)
        dataset_mask_read = False
        for i, number in enumerate(bands):
            band = self.dataset.GetRasterBand(number)
            out[i] = band.ReadAsArray(x0, y0, width, height, buf_type=gdal.GDT_Float32)
            flags = band.GetMaskFlags()
            if flags & gdal.GMF_NODATA:
                nodata = band.GetNoDataValue()
                valid &= ~(np.isnan(out[i]) if np.isnan(nodata) else out[i] == np.float32(nodata))
            elif not flags & gdal.GMF_ALL_VALID and not (flags & gdal.GMF_PER_DATASET and dataset_mask_read):
                valid &= band.GetMaskBand().ReadAsArray(x0, y0, width, height) > 0
                dataset_mask_read = bool(flags & gdal.GMF_PER_DATASET)
            if band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64):
                valid &= np.isfinite(out[i])
        return out, valid


class ArrayReader:
    """Reads windows of an in-memory (bands, rows, cols) array: for images that carry no
    georeferencing (training and benchmark patches). Pixels are all valid unless a
    ``valid`` mask says otherwise; the grid is a unit-pixel local one unless given."""

    LOCAL_CRS = 'LOCAL_CS["image pixels",UNIT["metre",1]]'
    reads_in_any_thread = True

    def __init__(self, bands: np.ndarray, grid: Grid | None = None, valid: np.ndarray | None = None):
        self.kind = storage_kind(np.asarray(bands).dtype)
        self.bands = np.asarray(bands, dtype=np.float32)
        self.band_count, height, width = self.bands.shape
        self.valid = valid
        self.grid = grid or Grid(width, height, (0.0, 1.0, 0.0, 0.0, 0.0, -1.0), self.LOCAL_CRS)

    def read(self, bands, x0, y0, width, height):
        window = (slice(y0, y0 + height), slice(x0, x0 + width))
        out = np.stack([self.bands[b - 1][window] for b in bands])
        valid = np.ones((height, width), bool) if self.valid is None else self.valid[window].copy()
        return out, valid

    def release_cache(self) -> None:
        pass

    def band_storage(self, number: int) -> BandStorage:
        return BandStorage(self.kind)

    def band_roles(self) -> dict[str, int]:
        return {}

    def on_grid(self, grid: Grid, window=None):
        raise ValueError("An in-memory image has no ground resolution to resample from: run it at its own pixels.")


def dem_on_grid(dem_path: str, grid: Grid) -> GdalReader:
    """The DEM warped (bilinear) onto ``grid`` grown by one pixel on every side (the
    neighbours slope needs at the raster's edge), as a lazy VRT: pixels are resampled
    only when a window is read, so memory does not grow with the raster size.

    Raises ValueError when the DEM does not overlap the grid at all.
    """
    src = gdal.Open(dem_path)
    if not src.GetProjection():
        raise ValueError("The DEM has no coordinate reference system; assign one before using it.")
    if not _overlaps(GdalReader(src).grid, grid):
        raise ValueError("The DEM does not overlap the image: check that it covers the same area.")
    nodata = -1.0e30
    src_nodata = src.GetRasterBand(1).GetNoDataValue()
    xmin, ymin, xmax, ymax = grid.bounds
    px, py = abs(grid.geotransform[1]), abs(grid.geotransform[5])
    options = gdal.WarpOptions(
        format="VRT",
        outputBounds=(xmin - px, ymin - py, xmax + px, ymax + py),
        width=grid.width + 2,
        height=grid.height + 2,
        dstSRS=grid.crs_wkt,
        resampleAlg="bilinear",
        srcNodata=src_nodata,
        dstNodata=nodata,
        outputType=gdal.GDT_Float32,
    )
    return GdalReader(gdal.Warp("", src, options=options), colours=False)  # elevations, whatever colours they have


def _overlaps(source: Grid, target: Grid) -> bool:
    """Whether ``source``'s footprint, transformed to ``target``'s CRS, intersects it."""
    try:
        txmin, tymin, txmax, tymax = transform_bounds(source.bounds, source.crs_wkt, target.crs_wkt)
    except RuntimeError:
        return False
    gxmin, gymin, gxmax, gymax = target.bounds
    return txmin < gxmax and txmax > gxmin and tymin < gymax and tymax > gymin


def srs_from(wkt: str) -> osr.SpatialReference:
    """A spatial reference with x = easting/longitude, y = northing/latitude."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def transform_bounds(bounds, source_wkt: str, target_wkt: str) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) from one CRS to another, densified along the edges."""
    source, target = srs_from(source_wkt), srs_from(target_wkt)
    if source.IsSame(target):
        return tuple(bounds)
    return osr.CoordinateTransformation(source, target).TransformBounds(*bounds, 21)


def crop_window(grid: Grid, extent: tuple[float, float, float, float, str]) -> tuple[int, int, int, int]:
    """(col0, row0, width, height): the whole pixels of ``grid`` that ``extent``
    (xmin, ymin, xmax, ymax, CRS WKT or "" for the grid's own) touches. Raises
    ValueError when it does not overlap the grid."""
    xmin, ymin, xmax, ymax, wkt = extent
    if wkt:
        try:
            xmin, ymin, xmax, ymax = transform_bounds((xmin, ymin, xmax, ymax), wkt, grid.crs_wkt)
        except RuntimeError:
            raise ValueError(
                f"The extent's CRS ({srs_from(wkt).GetName()}) cannot be transformed to the raster's "
                f"({srs_from(grid.crs_wkt).GetName()}): draw the extent in the raster's CRS, or in one that can be "
                "related to it.") from None
    gt = grid.geotransform
    c0 = max(0, math.floor((xmin - gt[0]) / gt[1] + 1e-9))
    c1 = min(grid.width, math.ceil((xmax - gt[0]) / gt[1] - 1e-9))
    r0 = max(0, math.floor((ymax - gt[3]) / gt[5] + 1e-9))
    r1 = min(grid.height, math.ceil((ymin - gt[3]) / gt[5] - 1e-9))
    if c1 <= c0 or r1 <= r0:
        raise ValueError("The extent does not overlap the raster: draw it over the area the raster covers.")
    return c0, r0, c1 - c0, r1 - r0


def sub_grid(grid: Grid, col0: int, row0: int, width: int, height: int) -> Grid:
    gt = grid.geotransform
    return Grid(width, height, (gt[0] + col0 * gt[1], gt[1], 0.0, gt[3] + row0 * gt[5], 0.0, gt[5]), grid.crs_wkt)


class CroppedReader:
    """A rectangle of pixels of another reader, read as a raster of its own (a run over
    a user-drawn extent only)."""

    def __init__(self, reader, col0: int, row0: int, width: int, height: int):
        self.reader, self.col0, self.row0 = reader, col0, row0
        self.band_count = reader.band_count
        self.grid = sub_grid(reader.grid, col0, row0, width, height)
        self.reads_in_any_thread = reader.reads_in_any_thread

    def read(self, bands, x0, y0, width, height):
        return self.reader.read(bands, self.col0 + x0, self.row0 + y0, width, height)

    def release_cache(self) -> None:
        self.reader.release_cache()

    def band_storage(self, number: int) -> BandStorage:
        return self.reader.band_storage(number)

    def band_roles(self) -> dict[str, int]:
        return self.reader.band_roles()

    def on_grid(self, grid: Grid, window: tuple[int, int, int, int] | None = None) -> RasterReader:
        col0, row0, width, height = window or (0, 0, self.grid.width, self.grid.height)
        return self.reader.on_grid(grid, (self.col0 + col0, self.row0 + row0, width, height))
