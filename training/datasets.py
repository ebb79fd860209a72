"""Training datasets as objects: what training, export and quantization ask of a dataset,
whatever its layout on disk.

A dataset gives its samples (whole images, or patches for a dataset of patches: what the
default recipe draws its crops from), its fixed patches (what the paper recipe trains on),
a split (train fits; validation picks the checkpoint, the threshold and the object filter;
test, where the dataset pins one, only scores), its ground resolution (None when unknown),
its provenance (what the spec's ``training.dataset`` records) and what a model card says
about it (:func:`facts`). Every recipe (training/recipes.py) trains on every dataset. The
layouts:

- :class:`Bijie` (``../shared/data/bijie``): RGB images split by image and class; the test
  images are pinned in ``training/splits/bijie_test.json`` and never fit anything;
- :class:`Landslide4Sense`: 128-px multispectral patch files with slope, each its own image;
- :class:`RasterInventory`: a georeferenced raster + landslide polygons (+ DEM), cut into
  patches once and split by patch (the last ones validate);
- :class:`PatchFolder`: what the 'Create training patches' algorithm writes, split the same way;
- :class:`RasterRegions`: a raster + polygons (+ DEM, + the area the mapper reviewed) split by
  area into square regions (what "Train landslide model" trains on), and :class:`RasterSet`:
  several such rasters.

:func:`dataset_from_args` picks one from the training CLI's arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..core.imagery.patches import (
    INFO_FILE,
    PATCH_FILE,
    PatchSet,
    Sample,
    inventory_sample,
    make_patchset,
    read_patch_folder,
)
from ..core.io.readers import DEFAULT_BANDS as DEFAULT_BAND_NUMBERS
from .augment import filled
from .data import (
    BIJIE_RESOLUTION_M,
    DEFAULT_BANDS,
    bijie_ids,
    bijie_split,
    patch_samples,
    read_bijie,
    read_landslide4sense,
    split_ids,
)


class DatasetError(ValueError):
    """No dataset can be made from what was given; the message says what to give."""


@dataclass(frozen=True)
class Split:
    """Sample ids (image ids, or patch numbers for a dataset of patches) by role."""

    train: tuple
    validation: tuple
    test: tuple = ()


@dataclass(frozen=True)
class Facts:
    """What a model card says about the data a model learned from."""

    title: str  # "Bijie"
    place: str | None = None  # "Guizhou, China"
    values: str = "the training images' own values"  # what the image values are
    no_dem: str | None = None  # why the data gives no slope band, when it says
    by_patch: bool = False  # split by patch, not by image


class Dataset:
    """The interface: subclasses give ``name``, :meth:`split`, :meth:`samples`,
    :meth:`provenance` and :meth:`facts`."""

    name: ClassVar[str]
    #: what one sample is, for messages
    unit: ClassVar[str] = "images"
    #: what the test part is, for the spec's test scores (datasets that pin a test part)
    test_source: ClassVar[str] = ""
    #: ground resolution of the images, m per pixel (None: unknown)
    resolution_m: float | None = None

    def split(self, val_share: float, seed: int) -> Split:
        raise NotImplementedError

    def samples(self, ids: Sequence) -> list[Sample]:
        """The samples with these ids, in that order."""
        raise NotImplementedError

    def patches(self, ids: Sequence, negative_share: float, seed: int) -> PatchSet:
        """The paper recipe's patches of these samples (``negative_share`` of them without
        landslide pixels; a dataset of patches has chosen its own already)."""
        return make_patchset(self.samples(ids), negative_share, seed)

    def patch_samples(self, ids: Sequence, negative_share: float, seed: int) -> list[Sample]:
        """:meth:`patches`, each patch a sample: what the paper recipe's trainer takes."""
        return patch_samples(self.patches(ids, negative_share, seed))

    def provenance(self, val_share: float | None = None, negative_share: float | None = None) -> dict:
        """What the spec records (``training.dataset``): enough to rebuild the split."""
        raise NotImplementedError

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        raise NotImplementedError

    def describe(self, split: Split) -> str:
        held = f" ({len(split.test)} held out for testing)" if split.test else ""
        return (f"{self.facts(self.provenance()).title}: {len(split.train)} training, {len(split.validation)} "
                f"validation {self.unit}{held}")


class Bijie(Dataset):
    """The Bijie landslide dataset (Ji et al., 2020): ``index.csv``, ``landslide/{image,mask}``
    and ``non-landslide/image`` PNGs, TripleSat at 0.8 m."""

    name = "bijie"
    resolution_m = BIJIE_RESOLUTION_M
    test_source = "Bijie held-out split (training/splits/bijie_test.json)"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def split(self, val_share: float, seed: int | None = None) -> Split:
        """By image and class; the seed is the pinned split's own (``seed`` is not used), so
        the test images stay those of ``training/splits/bijie_test.json`` (those this copy holds)."""
        train, validation, test = bijie_split(self.root, val_share)
        present = {i for ids in bijie_ids(self.root).values() for i in ids}
        return Split(tuple(train), tuple(validation), tuple(i for i in test if i in present))

    def samples(self, ids: Sequence) -> list[Sample]:
        by_id = {s.id: s for s in read_bijie(self.root, ids)}
        return [by_id[i] for i in ids]

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, "path": str(self.root), **_given(val_share=val_share),
                "split": "training/splits/bijie_test.json held out", **_given(negative_share=negative_share)}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        return Facts("Bijie", "Guizhou, China", "8-bit display values", "the copy of Bijie available has no DEM")


class Landslide4Sense(Dataset):
    """Landslide4Sense (Ghorbanzadeh et al., 2022): ``index.csv`` and ``TrainData/{img,mask}``
    h5 patches of 128 px, about 10 m, Sentinel-2 bands and ALOS PALSAR slope."""

    name = "landslide4sense"
    resolution_m = 10.0
    unit = "images (patch files)"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @cached_property
    def _by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in read_landslide4sense(self.root)}

    def split(self, val_share: float, seed: int) -> Split:
        train, validation = split_ids(list(self._by_id), val_share, seed)
        return Split(tuple(train), tuple(validation))

    def samples(self, ids: Sequence) -> list[Sample]:
        return [self._by_id[i] for i in ids]

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, "path": str(self.root), **_given(val_share=val_share, negative_share=negative_share),
                "note": "the dataset's rescaled values, not reflectance: feed the model the same scaling"}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        return Facts("Landslide4Sense", values="the dataset's rescaled values (not reflectance)")


class _Patches(Dataset):
    """A dataset that is one set of patches, split by patch: the last ``val_share`` of them
    (in the set's order) validate. Its samples are its patches."""

    unit = "patches"

    @property
    def _patches(self) -> PatchSet:
        raise NotImplementedError

    def split(self, val_share: float, seed: int | None = None) -> Split:
        count = len(self._patches)
        kept = int(count * (1 - val_share))
        return Split(tuple(range(kept)), tuple(range(kept, count)))

    def patches(self, ids: Sequence, negative_share: float | None = None, seed: int | None = None) -> PatchSet:
        keep = np.zeros(len(self._patches), bool)
        keep[list(ids)] = True
        return self._patches.subset(keep)

    def samples(self, ids: Sequence) -> list[Sample]:
        return patch_samples(self._patches, ids)


class RasterInventory(_Patches):
    """A georeferenced image and landslide polygons digitized over it (+ a DEM for slope):
    rasterized and cut into patches when first used (``negative_share`` of them without
    landslide pixels, chosen with ``seed``); its resolution is the image's pixel size."""

    name = "raster_inventory"

    def __init__(self, image: str, polygons: str, band_numbers: dict[str, int] | None = None, dem: str | None = None,
                 bands: Sequence[str] = DEFAULT_BANDS, negative_share: float = 0.2, seed: int = 42,
                 polygons_layer: str | None = None):
        if not polygons:
            raise DatasetError(f"--image {image}: give its landslide polygons too (--polygons)")
        self.image, self.polygons, self.dem, self.bands = image, polygons, dem, tuple(bands)
        self.band_numbers = band_numbers or dict(DEFAULT_BAND_NUMBERS)
        self.negative_share, self.seed, self.polygons_layer = negative_share, seed, polygons_layer

    @cached_property
    def _patches(self) -> PatchSet:
        sample = inventory_sample(self.image, self.polygons, self.band_numbers, self.dem, self.bands,
                                  self.polygons_layer)
        return make_patchset([sample], self.negative_share, self.seed)

    @cached_property
    def resolution_m(self) -> float | None:
        return _raster_resolution(self.image)

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, "image": self.image, "polygons": self.polygons, "dem": self.dem,
                "band_numbers": self.band_numbers, "negative_share": self.negative_share,
                **_given(val_share=val_share)}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        return Facts(f"one raster ({Path(provenance.get('image', '?')).name})",
                     no_dem=None if provenance.get("dem") else "no DEM was given", by_patch=True)


class PatchFolder(_Patches):
    """A folder written by the 'Create training patches' algorithm (``patches.npz`` and
    ``patches.json``); its resolution is that of the image named in ``patches.json``,
    when that image can still be opened."""

    name = "patch_folder"

    def __init__(self, folder: str | Path):
        self.folder = str(folder)
        if not (Path(folder) / PATCH_FILE).is_file():
            raise DatasetError(f"{folder}: no {PATCH_FILE}; make one with the 'Create training patches' algorithm")

    @cached_property
    def info(self) -> dict:
        return json.loads((Path(self.folder) / INFO_FILE).read_text())

    @cached_property
    def _patches(self) -> PatchSet:
        return read_patch_folder(self.folder)

    @cached_property
    def resolution_m(self) -> float | None:
        return _raster_resolution(self.info.get("image"))

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, **self.info, "folder": self.folder, **_given(val_share=val_share)}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        image = provenance.get("image")
        return Facts(f"patches of one raster ({Path(image).name})" if image else "one patch folder",
                     no_dem=None if provenance.get("dem") else "no DEM was given", by_patch=True)


class RasterRegions(Dataset):
    """A georeferenced image and landslide polygons digitized over it (+ a DEM for slope),
    split by area, not by patch: the raster is cut into a grid of about equal square
    regions (``region_size`` px, default about 16 regions of 256 to 1024 px), and whole
    regions validate, so no training crop shares pixels with a validation one (the
    default recipe mirrors a crop at its region's edge). Its samples are the regions.

    ``mapped_area``: polygons of the part the mapper reviewed. Only regions at least half
    inside it are used, since elsewhere a pixel without a polygon is not known to be free of
    landslides; the unreviewed rest of a kept region still counts as landslide-free.

    Nodata (a mosaic's gutters and collars) is not landslide-free ground either: a region
    must also have data in at least half its pixels (and the held-out share is of the area
    with data); in a kept region the pixels without data are filled as Detect fills them
    and marked in the sample's ``valid``: the crops' loss leaves them out (training.sampler),
    and validation, run as Detect runs, gives them no probability (training.evaluate).
    """

    name = "raster_regions"
    unit = "regions"
    MIN_REGION, MAX_REGION, REGIONS = 256, 1024, 16

    def __init__(self, image: str, polygons: str, band_numbers: dict[str, int] | None = None, dem: str | None = None,
                 bands: Sequence[str] = DEFAULT_BANDS, region_size: int | None = None, mapped_area: str | None = None,
                 polygons_layer: str | None = None, mapped_area_layer: str | None = None):
        if not polygons:
            raise DatasetError(f"--image {image}: give its landslide polygons too (--polygons)")
        self.image, self.polygons, self.dem, self.bands = image, polygons, dem, tuple(bands)
        self.band_numbers = band_numbers or dict(DEFAULT_BAND_NUMBERS)
        self.mapped_area, self.polygons_layer, self.mapped_area_layer = mapped_area, polygons_layer, mapped_area_layer
        self._region_size = region_size

    @cached_property
    def _sample(self) -> Sample:
        return inventory_sample(self.image, self.polygons, self.band_numbers, self.dem, self.bands, self.polygons_layer)

    @property
    def region_size(self) -> int:
        """The regions' side in pixels: the given one, else about :attr:`REGIONS` regions."""
        if self._region_size:
            return int(self._region_size)
        height, width = self._sample.mask.shape
        side = int(np.sqrt(height * width / self.REGIONS))
        return int(min(self.MAX_REGION, max(self.MIN_REGION, side)))

    @cached_property
    def _known(self) -> np.ndarray | None:
        """Where a pixel without a polygon is landslide-free ground: the image has data there,
        and (given a mapped area) the mapper reviewed it; None: everywhere."""
        known = self._sample.valid
        if self.mapped_area:  # the reviewed area rasterized on the image grid, as the inventory is
            mapped = inventory_sample(self.image, self.mapped_area, self.band_numbers, None, ("red",),
                                      self.mapped_area_layer).mask.astype(bool)
            known = mapped if known is None else known & mapped
        return known

    @cached_property
    def _regions(self) -> dict[str, tuple[slice, slice]]:
        """Region id -> (rows, columns), row by row; regions mostly outside the mapped area or
        mostly without data left out."""
        height, width = self._sample.mask.shape
        rows = np.linspace(0, height, max(1, round(height / self.region_size)) + 1).astype(int)
        columns = np.linspace(0, width, max(1, round(width / self.region_size)) + 1).astype(int)
        regions = {}
        for i, (y0, y1) in enumerate(zip(rows[:-1], rows[1:])):
            for j, (x0, x1) in enumerate(zip(columns[:-1], columns[1:])):
                window = (slice(y0, y1), slice(x0, x1))
                if self._known is None or self._known[window].mean() >= 0.5:
                    regions[f"r{i}c{j}"] = window
        return regions

    def split(self, val_share: float, seed: int = 42) -> Split:
        """Whole regions validate, about ``val_share`` of the area, chosen with ``seed``: the
        first of them holds landslides, and at least one region with landslides trains."""
        regions = self._regions
        if len(regions) < 2:
            raise DatasetError(f"{Path(self.image).name}: {len(regions)} region(s) of {self.region_size} px "
                               f"{'inside the mapped area ' if self.mapped_area else ''}with data in at least half "
                               "their pixels to split for validation; give a larger raster (or mapped area), or a "
                               "smaller --region-size")
        ids = list(regions)
        valid = self._sample.valid
        area = {i: int(valid[regions[i]].sum()) if valid is not None else self._sample.mask[regions[i]].size
                for i in ids}
        has_landslides = {i: bool(self._sample.mask[regions[i]].any()) for i in ids}
        order = [ids[k] for k in np.random.default_rng(seed).permutation(len(ids))]
        positives = [i for i in order if has_landslides[i]]
        if len(positives) > 1:  # the first validation region holds landslides, or F1 means nothing
            order = [positives[0]] + [i for i in order if i != positives[0]]
        validation: list[str] = []
        taken, target = 0, val_share * sum(area.values())
        for i in order:
            if taken >= target or len(validation) == len(ids) - 1:
                break
            if has_landslides[i] and sum(has_landslides[v] for v in validation) + 1 >= len(positives):
                continue  # at least one region with landslides trains
            validation.append(i)
            taken += area[i]
        return Split(tuple(i for i in ids if i not in validation), tuple(sorted(validation, key=ids.index)))

    def samples(self, ids: Sequence) -> list[Sample]:
        """The regions; where one has no data its bands continue the nearest valid pixels, as
        Detect feeds a window (so what reads them unaware of ``valid`` sees no flat 0), and
        its ``valid`` says where."""
        sample, out = self._sample, []
        for i in ids:
            window = self._regions[i]
            sources = {k: v[window] for k, v in sample.sources.items()}
            valid = sample.valid[window] if sample.valid is not None else None
            if valid is not None and valid.all():
                valid = None  # a region with data everywhere is an ordinary sample
            elif valid is not None:
                sources = filled(sources, valid)
            out.append(Sample(f"{sample.id}#{i}", sources, sample.mask[window], valid))
        return out

    @cached_property
    def resolution_m(self) -> float | None:
        return _raster_resolution(self.image)

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, "image": self.image, "polygons": self.polygons, "dem": self.dem,
                "band_numbers": self.band_numbers, "bands": list(self.bands), "region_size": self.region_size,
                **_given(mapped_area=self.mapped_area, polygons_layer=self.polygons_layer,
                         mapped_area_layer=self.mapped_area_layer, val_share=val_share)}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        return Facts(f"one raster ({Path(provenance.get('image', '?')).name}), split by area into regions of "
                     f"{provenance.get('region_size', '?')} px",
                     no_dem=None if provenance.get("dem") else "no DEM was given")


class RasterSet(Dataset):
    """Several images with the landslides digitized over them (one polygon layer for all,
    each image taking the polygons over it), each split by area as :class:`RasterRegions`
    splits one: every image gives about the same share of its area to validation, so the
    held-out part covers every image's terrain. An image of a single region trains only."""

    name = "raster_set"
    unit = "regions"

    def __init__(self, parts: Sequence[RasterRegions]):
        if len(parts) < 2:
            raise DatasetError("a raster set needs two images or more; one image is split by RasterRegions")
        self.parts = list(parts)

    def split(self, val_share: float, seed: int = 42) -> Split:
        train, validation = [], []
        for k, part in enumerate(self.parts):
            if len(part._regions) < 2:
                train += [f"{k}:{i}" for i in part._regions]
                continue
            split = part.split(val_share, seed)
            train += [f"{k}:{i}" for i in split.train]
            validation += [f"{k}:{i}" for i in split.validation]
        if not validation:
            raise DatasetError("none of the images is large enough to hold out a region for validation; give a "
                               "larger image (or mapped area), or a smaller --region-size")
        return Split(tuple(train), tuple(validation))

    def samples(self, ids: Sequence) -> list[Sample]:
        out = []
        for sample_id in ids:
            k, region = str(sample_id).split(":", 1)
            out += self.parts[int(k)].samples([region])
        return out

    @cached_property
    def resolution_m(self) -> float | None:
        """The images' mean pixel size (each trains at its own; the model records one)."""
        sizes = [part.resolution_m for part in self.parts]
        return None if None in sizes else float(np.mean(sizes))

    def provenance(self, val_share=None, negative_share=None) -> dict:
        return {"name": self.name, "parts": [part.provenance() for part in self.parts], **_given(val_share=val_share)}

    @classmethod
    def facts(cls, provenance: dict) -> Facts:
        parts = provenance.get("parts", [])
        names = ", ".join(Path(p.get("image", "?")).name for p in parts)
        return Facts(f"{len(parts)} rasters ({names}), each split by area into regions",
                     no_dem=None if all(p.get("dem") for p in parts) else "no DEM was given")


DATASETS = {cls.name: cls for cls in (Bijie, Landslide4Sense, RasterInventory, PatchFolder, RasterRegions, RasterSet)}


def facts(provenance: dict) -> Facts:
    """What a card says about the data named by a spec's ``training.dataset`` (runs
    trained before datasets were named are recognised by their keys)."""
    name = provenance.get("name")
    if name not in DATASETS:
        name = "patch_folder" if "folder" in provenance else "raster_inventory" if "image" in provenance else name
    if name in DATASETS:
        return DATASETS[name].facts(provenance)
    return Facts(str(name) if name else "its training data")


def dataset_at(path: str | Path) -> Dataset:
    """The dataset in a folder, by its layout: Bijie, Landslide4Sense or a patch folder."""
    folder = Path(path)
    if (folder / "landslide" / "image").is_dir():
        return Bijie(folder)
    if (folder / "TrainData").is_dir():
        return Landslide4Sense(folder)
    if (folder / PATCH_FILE).is_file():
        return PatchFolder(folder)
    raise DatasetError(f"{path}: not a Bijie, Landslide4Sense or training patch folder; give --image and "
                       "--polygons for your own inventory")


def as_dataset(dataset: Dataset | str | Path | None) -> Dataset | None:
    """A dataset object from a dataset, a folder (:func:`dataset_at`) or None."""
    return dataset if dataset is None or isinstance(dataset, Dataset) else dataset_at(dataset)


def dataset_from_args(args) -> Dataset:
    """The training CLI's dataset: ``--patches``, ``--image`` + ``--polygons`` (+ ``--dem``,
    band numbers; split by patch, or with ``--split-by region`` by area) or ``--data``."""
    if getattr(args, "patches", None):
        return PatchFolder(args.patches)
    images = getattr(args, "image", None) or []
    images = [images] if isinstance(images, str) else images
    if images and getattr(args, "split_by", "patch") == "region":
        parts = [RasterRegions(image, args.polygons, {"red": args.red, "green": args.green, "blue": args.blue},
                               args.dem, args.bands, args.region_size, args.mapped_area, args.polygons_layer,
                               args.mapped_area_layer) for image in images]
        return parts[0] if len(parts) == 1 else RasterSet(parts)
    if len(images) > 1:
        raise DatasetError("several images train split by area: add --split-by region")
    if images:
        return RasterInventory(images[0], args.polygons, {"red": args.red, "green": args.green, "blue": args.blue},
                               args.dem, args.bands, args.negative_share, args.seed)
    if getattr(args, "data", None):
        return dataset_at(args.data)
    raise DatasetError("no data: give --data (a Bijie or Landslide4Sense folder), --patches (a 'Create training "
                       "patches' folder), or --image and --polygons")


def dataset_from_provenance(provenance: dict) -> Dataset:
    """The dataset a run trained on, from its spec's ``training.dataset`` (what export
    ``--same-data`` calibrates on): a raster split by region, or a dataset folder."""
    keys = ("image", "polygons", "band_numbers", "dem", "bands", "region_size", "mapped_area", "polygons_layer",
            "mapped_area_layer")
    if provenance.get("name") == RasterRegions.name:
        return RasterRegions(**{k: provenance[k] for k in keys if provenance.get(k) is not None})
    if provenance.get("name") == RasterSet.name:
        return RasterSet([RasterRegions(**{k: part[k] for k in keys if part.get(k) is not None})
                          for part in provenance["parts"]])
    for key in ("path", "folder"):
        if provenance.get(key):
            return dataset_at(provenance[key])
    raise DatasetError(f"the run's dataset ({provenance.get('name', 'unnamed')}) cannot be rebuilt from its spec: "
                       "give --data")


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _raster_resolution(path: str | None) -> float | None:
    """The mean pixel size in metres of a georeferenced raster, or None (no file, no CRS)."""
    from ..core.io.readers import GdalReader
    from ..core.io.resolution import pixel_size_m

    if not path:
        return None
    try:
        grid = GdalReader(path).grid
    except RuntimeError:  # GDAL cannot open it (moved, or not a file)
        return None
    if not grid.crs_wkt:
        return None
    return round(float(np.mean(pixel_size_m(grid))), 4)
