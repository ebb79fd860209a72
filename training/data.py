"""Training patches: from the datasets in ../shared/data, or from a raster + inventory.

A patch is kept as its *sources* (raw image bands by name, and slope in degrees when
there is a DEM) plus a 0/1 mask; the network's bands are built from them at batch time
by :func:`core.bands.build_stack`, the function Detect uses for every window. Patches
are cut at the imagery's native resolution (mirror-padded when an image is smaller than
a patch, never resized), because Detect runs at native resolution.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from osgeo import gdal, ogr

from core.inputs import ModelInput
from core.readers import GdalReader, dem_on_grid
from core.spec import ModelSpec
from core.windows import reflect_indices

gdal.UseExceptions()

PATCH = 128
SPLITS_DIR = Path(__file__).resolve().parent / "splits"


@dataclass
class Sample:
    """One source image: its bands by name, its 0/1 landslide mask, and its id."""

    id: str
    sources: dict[str, np.ndarray]
    mask: np.ndarray


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


def read_bijie(root: str | Path, ids: Iterable[str] | None = None) -> list[Sample]:
    """Bijie samples (RGB PNG + 0/255 mask; non-landslide images have no mask: all 0)."""
    root = Path(root)
    wanted = set(ids) if ids is not None else None
    samples = []
    with open(root / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            if wanted is not None and row["id"] not in wanted:
                continue
            rgb = gdal.Open(str(root / row["image"])).ReadAsArray().astype(np.float32)
            if row["mask"]:
                mask = (gdal.Open(str(root / row["mask"])).ReadAsArray() > 127).astype(np.uint8)
            else:
                mask = np.zeros(rgb.shape[1:], np.uint8)
            samples.append(Sample(row["id"], {"red": rgb[0], "green": rgb[1], "blue": rgb[2]}, mask))
    return samples


def bijie_ids(root: str | Path) -> dict[str, list[str]]:
    """Sample ids by class: {'landslide': [...], 'non-landslide': [...]}."""
    out: dict[str, list[str]] = {"landslide": [], "non-landslide": []}
    with open(Path(root) / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            out[row["class"]].append(row["id"])
    return out


# Landslide4Sense: 14 Sentinel-2/ALOS bands, (H, W, band); 0-based indices of what we use.
L4S_BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 7, "slope": 12}


def read_landslide4sense(root: str | Path) -> list[Sample]:
    """Landslide4Sense h5 patches. Values are the dataset's rescaled values (not
    reflectance, not degrees): a model trained on them must be fed the same scaling."""
    import h5py

    root = Path(root)
    samples = []
    with open(root / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            with h5py.File(root / row["image"], "r") as h:
                img = np.asarray(h["img"], dtype=np.float32)
            with h5py.File(root / row["mask"], "r") as h:
                mask = np.asarray(h["mask"], dtype=np.uint8)
            sources = {name: img[:, :, i] for name, i in L4S_BANDS.items()}
            samples.append(Sample(row["id"], sources, (mask > 0).astype(np.uint8)))
    return samples


def read_raster_inventory(image: str, polygons: str, band_numbers: dict[str, int], dem: str | None = None,
                          bands: Sequence[str] = ("red", "green", "blue", "brightness")) -> Sample:
    """A georeferenced image + landslide polygons (+ DEM) as one sample: the polygons are
    rasterized onto the image grid, and bands and slope are read with the same
    ModelInput that Detect uses (identity normalization, so these are raw values)."""
    identity = ModelSpec.from_dict({
        "spec_version": 1, "name": "raw", "architecture": "none", "bands": list(bands),
        "normalization": {"mean": [0.0] * len(bands), "std": [1.0] * len(bands)},
        "patch_size": PATCH, "size_multiple": 16, "threshold": 0.5, "output": "landslide_probability",
    })
    reader = GdalReader(image)
    dem_reader = dem_on_grid(dem, reader.grid) if dem else None
    model_input = ModelInput(identity, reader, band_numbers, dem_reader)
    grid = reader.grid
    sources, slope, valid = model_input.read_sources(0, 0, grid.width, grid.height)
    if slope is not None:
        sources["slope"] = slope
    target = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Byte)
    target.SetGeoTransform(grid.geotransform)
    target.SetProjection(grid.crs_wkt)
    vector = ogr.Open(polygons)
    gdal.RasterizeLayer(target, [1], vector.GetLayer(), burn_values=[1])
    mask = target.GetRasterBand(1).ReadAsArray().astype(np.uint8)
    mask[~valid] = 0
    return Sample(Path(image).stem, sources, mask)


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


def split_ids(ids: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded split of sample ids (by source image, never by patch): (rest, held)."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    held = max(1, int(round(len(shuffled) * share))) if share > 0 else 0
    return sorted(shuffled[held:]), sorted(shuffled[:held])


def bijie_split(root: str | Path, val_share: float = 0.3, test_share: float = 0.15, seed: int = 20251125):
    """Train/validation/test ids for Bijie, by image and per class; the test ids are
    written to training/splits/bijie_test.json the first time, and read from there
    afterwards, so no model is ever trained on the images the quality benchmark scores."""
    classes = bijie_ids(root)
    test_file = SPLITS_DIR / "bijie_test.json"
    if test_file.exists():
        test = set(json.loads(test_file.read_text())["test_ids"])
    else:
        test = set()
        for ids in classes.values():
            test |= set(split_ids(ids, test_share, seed)[1])
        SPLITS_DIR.mkdir(exist_ok=True)
        test_file.write_text(json.dumps({
            "dataset": "bijie", "seed": seed, "test_share": test_share,
            "note": "held out from every bundled model's training and validation; scored by the quality benchmark",
            "test_ids": sorted(test)}, indent=1))
    train, val = [], []
    for ids in classes.values():
        rest, held = split_ids([i for i in ids if i not in test], val_share, seed + 1)
        train += rest
        val += held
    return sorted(train), sorted(val), sorted(test)
