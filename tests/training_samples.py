"""Training data made up for the tests of training/: images with one bright scar each,
a folder in the Bijie layout, and the mark of tests that read the real data beside the
project (../shared/data)."""

from pathlib import Path

import numpy as np
import pytest
from locations import SHARED_DATA

needs_data = pytest.mark.skipif(not (SHARED_DATA / "bijie" / "index.csv").exists(), reason="../shared/data not present")


def blob_samples(count: int, seed: int, landslides: bool = True) -> list:
    """Images with one bright scar each (or none): what the crop sampler draws from."""
    from landslide_mapper.training.data import Sample

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        h, w = rng.integers(100, 260, 2)
        red = rng.uniform(40, 90, (h, w)).astype(np.float32)
        mask = np.zeros((h, w), np.uint8)
        if landslides:
            top, left = rng.integers(0, h - 20), rng.integers(0, w - 20)
            mask[top : top + 20, left : left + 20] = 1
            red[mask == 1] = 220
        samples.append(Sample(f"{'ls' if landslides else 'nls'}{i}", {"red": red, "green": red * 0.9,
                                                                       "blue": red * 0.8}, mask))
    return samples


def write_png(path, bands):
    from osgeo import gdal

    path.parent.mkdir(parents=True, exist_ok=True)
    mem = gdal.GetDriverByName("MEM").Create("", bands.shape[2], bands.shape[1], bands.shape[0], gdal.GDT_Byte)
    for i, band in enumerate(bands):
        mem.GetRasterBand(i + 1).WriteArray(band)
    gdal.GetDriverByName("PNG").CreateCopy(str(path), mem)


def fake_bijie(root: Path, seed: int = 0) -> Path:
    """A 14-image folder in the Bijie layout (index.csv, RGB PNGs, 0/255 masks). Three of
    its ids (ls_0000, ls_0008, nls_0002) are in the pinned test split, so they are test."""
    import csv

    rng = np.random.default_rng(seed)
    rows = []
    ids = [("landslide", f"ls_{i:04d}") for i in range(9)] + [("non-landslide", f"nls_{i:04d}") for i in range(5)]
    for cls, id_ in ids:
        h, w = (int(v) for v in rng.integers(90, 200, 2))
        rgb = rng.uniform(40, 110, (3, h, w))
        mask = np.zeros((h, w), np.uint8)
        for _ in range(2):  # bright bare fields: landslide-like false alarms
            top, left = rng.integers(0, h - 12), rng.integers(0, w - 12)
            rgb[:, top : top + 10, left : left + 10] = 170
        if cls == "landslide":
            for _ in range(int(rng.integers(1, 3))):
                top, left = rng.integers(0, h - 30), rng.integers(0, w - 30)
                mask[top : top + int(rng.integers(12, 30)), left : left + int(rng.integers(12, 30))] = 1
            rgb[:, mask == 1] = 215
            write_png(root / cls / "mask" / f"{id_}.png", (mask * 255)[None])
        write_png(root / cls / "image" / f"{id_}.png", rgb.astype(np.uint8))
        rows.append({"id": id_, "class": cls, "image": f"{cls}/image/{id_}.png",
                     "mask": f"{cls}/mask/{id_}.png" if cls == "landslide" else "", "width": w, "height": h})
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def fake_landslide4sense(root: Path, count: int = 7, seed: int = 0) -> Path:
    """A folder in the Landslide4Sense layout (index.csv; TrainData/img/image_N.h5 holding
    "img", 128 x 128 x 14 rescaled values; TrainData/mask/mask_N.h5 holding "mask"): 128-px
    images with one bright scar each, the last without any."""
    import csv

    import h5py

    rng = np.random.default_rng(seed)
    (root / "TrainData" / "img").mkdir(parents=True, exist_ok=True)
    (root / "TrainData" / "mask").mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(1, count + 1):
        img = rng.uniform(0.1, 0.4, (128, 128, 14)).astype(np.float32)
        mask = np.zeros((128, 128), np.uint8)
        if n < count:
            top, left = rng.integers(0, 100, 2)
            mask[top : top + 24, left : left + 24] = 1
            img[mask == 1, 1:4] = 0.9  # blue, green, red
        with h5py.File(root / "TrainData" / "img" / f"image_{n}.h5", "w") as h:
            h["img"] = img
        with h5py.File(root / "TrainData" / "mask" / f"mask_{n}.h5", "w") as h:
            h["mask"] = mask
        rows.append({"id": str(n), "image": f"TrainData/img/image_{n}.h5", "mask": f"TrainData/mask/mask_{n}.h5"})
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
