"""Training patches cut from a georeferenced raster and a landslide inventory (no QGIS,
no TensorFlow): what the "Create training patches" algorithm writes and the training CLI
reads. One implementation for the plugin and for training/.

A patch is kept as its *sources* (raw image bands by name, and slope in degrees when
there is a DEM) plus a 0/1 mask; the network's bands are built from them at batch time
by :func:`core.imagery.bands.build_stack`, the function Detect uses for every window. Patches
are cut at the imagery's native resolution (mirror-padded when an image is smaller than
a patch, never resized), because Detect runs at native resolution.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from osgeo import gdal

from ..engine.windows import reflect_indices
from ..imagery.inputs import ModelInput
from ..io.readers import GdalReader, dem_on_grid
from ..io.vectors import LandslideMap, reprojected_features
from ..model.spec import RGB, ModelSpec

gdal.UseExceptions()

PATCH = 128
PATCH_FILE, INFO_FILE = "patches.npz", "patches.json"


@dataclass
class Sample:
    """One source image: its bands by name, its 0/1 landslide mask, and its id; ``valid``:
    where the image has data (None: everywhere). The mask is 0 where there is none, but a
    mosaic's nodata gutters and collars are not landslide-free ground: whoever learns from
    a sample reads ``valid`` too (training.sampler leaves them out of the loss)."""

    id: str
    sources: dict[str, np.ndarray]
    mask: np.ndarray
    valid: np.ndarray | None = None


@dataclass
class PatchSet:
    sources: dict[str, np.ndarray]  # name -> (N, PATCH, PATCH) float32
    masks: np.ndarray  # (N, PATCH, PATCH) uint8
    groups: list[str]  # source image id of each patch

    def __len__(self):
        return len(self.masks)

    def subset(self, keep: np.ndarray) -> "PatchSet":
        return PatchSet({k: v[keep] for k, v in self.sources.items()}, self.masks[keep],
                        [g for g, k in zip(self.groups, keep) if k])


def inventory_sample(image: str, polygons: str, band_numbers: dict[str, int], dem: str | None = None,
                     bands: Sequence[str] = (*RGB, "brightness"),
                     polygons_layer: str | None = None, crs_wkt: str | None = None) -> Sample:
    """A georeferenced image + landslide polygons (+ DEM) as one sample: the polygons are
    reprojected and rasterized onto the image grid (pixel centres), and bands and slope
    are read with the same ModelInput that Detect uses (identity normalization, so these
    are raw values; nodata pixels hold what the file holds there, and ``valid`` says
    where they are). ``crs_wkt``: the image's CRS when it is not the file's own (one a
    user assigned in QGIS)."""
    identity = ModelSpec.from_dict({
        "spec_version": 1, "name": "raw", "architecture": "none", "bands": list(bands),
        "normalization": {"mean": [0.0] * len(bands), "std": [1.0] * len(bands)},
        "patch_size": PATCH, "size_multiple": 16, "threshold": 0.5, "output": "landslide_probability",
    })
    reader = GdalReader(image)
    if crs_wkt:
        reader.grid = replace(reader.grid, crs_wkt=crs_wkt)
    dem_reader = dem_on_grid(dem, reader.grid) if dem else None
    model_input = ModelInput(identity, reader, band_numbers, dem_reader)
    grid = reader.grid
    sources, slope, valid = model_input.read_sources(0, 0, grid.width, grid.height)
    if slope is not None:
        sources["slope"] = slope
    target = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Byte)
    target.SetGeoTransform(grid.geotransform)
    target.SetProjection(grid.crs_wkt)
    holder, _fids, _crs = reprojected_features(LandslideMap(polygons, polygons_layer), grid.crs_wkt)
    gdal.RasterizeLayer(target, [1], holder[1], burn_values=[1])
    mask = target.GetRasterBand(1).ReadAsArray().astype(np.uint8)
    mask[~valid] = 0
    return Sample(Path(image).stem, sources, mask, None if valid.all() else valid)


def patch_starts(length: int, size: int = PATCH, overlap: int = 32) -> list[int]:
    """Patch origins along an axis: every size-overlap pixels, the last flush with the end."""
    if length <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def cut_patches(sample: Sample, size: int = PATCH, overlap: int = 32):
    """(sources, mask) patches covering the sample; images smaller than a patch are
    mirrored up to it, as Detect mirrors a raster smaller than a window."""
    h, w = sample.mask.shape
    for y in patch_starts(h, size, overlap):
        rows = reflect_indices(y, y + size, h)
        for x in patch_starts(w, size, overlap):
            take = np.ix_(rows, reflect_indices(x, x + size, w))
            yield {k: v[take] for k, v in sample.sources.items()}, sample.mask[take]


def make_patchset(samples: Sequence[Sample], negative_share: float = 0.2, seed: int = 0,
                  size: int = PATCH, overlap: int = 32) -> PatchSet:
    """Patches with landslide pixels, plus patches without any (from non-landslide
    images, or empty parts of landslide images) up to ``negative_share`` of the total.

    The method drops empty patches; keeping a measured share teaches the model the bare
    fields, roads and roofs that otherwise become false alarms.
    """
    positives, negatives = [], []
    for sample in samples:
        for sources, mask in cut_patches(sample, size, overlap):
            (positives if mask.any() else negatives).append((sources, mask, sample.id))
    rng = random.Random(seed)
    rng.shuffle(negatives)
    if negative_share > 0 and positives:
        wanted = int(round(len(positives) * negative_share / (1.0 - negative_share)))
    else:
        wanted = 0 if positives else len(negatives)
    chosen = positives + negatives[:wanted]
    if not chosen:
        raise ValueError("no patches: the samples are empty")
    names = list(chosen[0][0])
    return PatchSet(
        {n: np.stack([c[0][n] for c in chosen]).astype(np.float32) for n in names},
        np.stack([c[1] for c in chosen]).astype(np.uint8),
        [c[2] for c in chosen],
    )


def write_patch_folder(patches: PatchSet, folder: str | Path, info: dict) -> Path:
    """``patches.npz`` (sources, masks, source ids) and ``patches.json`` (what they are)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"source_{name}": values for name, values in patches.sources.items()}
    partial = folder / (PATCH_FILE + ".partial.npz")
    np.savez_compressed(partial, masks=patches.masks, groups=np.array(patches.groups), **arrays)
    partial.replace(folder / PATCH_FILE)
    positives = int(sum(bool(m.any()) for m in patches.masks))
    (folder / INFO_FILE).write_text(json.dumps({
        **info, "patches": len(patches), "with_landslides": positives, "without_landslides": len(patches) - positives,
        "patch_size": int(patches.masks.shape[1]), "sources": sorted(patches.sources)}, indent=1))
    return folder


def read_patch_folder(folder: str | Path) -> PatchSet:
    with np.load(Path(folder) / PATCH_FILE) as data:
        sources = {key.removeprefix("source_"): data[key] for key in data.files if key.startswith("source_")}
        return PatchSet(sources, data["masks"], [str(g) for g in data["groups"]])
