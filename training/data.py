"""Readers of the datasets in ../shared/data (training/datasets.py makes them dataset objects).

A patch is kept as its *sources* (raw image bands by name, and slope in degrees when
there is a DEM) plus a 0/1 mask; the network's bands are built from them at batch time
by :func:`core.imagery.bands.build_stack`, the function Detect uses for every window. Patches
are cut at the imagery's native resolution (mirror-padded when an image is smaller than
a patch, never resized), because Detect runs at native resolution.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from osgeo import gdal

from ..core.imagery.patches import (  # noqa: F401  (the training side's names for them)
    PATCH,
    PatchSet,
    Sample,
    cut_patches,
    inventory_sample,
    make_patchset,
    patch_starts,
)
from ..core.model.spec import IMAGE_BANDS

gdal.UseExceptions()

#: the image bands of an RGB image
RGB = IMAGE_BANDS[:3]
#: the bands a model reads unless told otherwise: what any RGB image gives
DEFAULT_BANDS = (*RGB, "brightness")

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
#: ground resolution of the Bijie images (TripleSat, 0.8 m: Ji et al., 2020)
BIJIE_RESOLUTION_M = 0.8


def patch_samples(patches: PatchSet, indices: Iterable[int] | None = None) -> list[Sample]:
    """Patches (those at ``indices``, else all) as samples, each id ``<source image>#<patch
    number>``: what the paper recipe trains on, and the default recipe's images for a dataset
    of patches."""
    indices = range(len(patches)) if indices is None else indices
    return [Sample(f"{patches.groups[i]}#{i}", {k: v[i] for k, v in patches.sources.items()}, patches.masks[i])
            for i in indices]


def source_image(sample_id: str) -> str:
    """The image a patch sample (:func:`patch_samples`) was cut from."""
    return str(sample_id).rsplit("#", 1)[0]


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
            samples.append(Sample(row["id"], dict(zip(RGB, rgb)), mask))
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
