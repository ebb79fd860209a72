"""training/data.py: patches cut and mirrored, the negative share, the Bijie and
Landslide4Sense readers (real data from ../shared/data) and an inventory sample
that is, window for window, what Detect feeds the model."""

import json

import numpy as np
import pytest
from locations import ROOT, SHARED_DATA
from osgeo import ogr, osr
from training_samples import needs_data

pytest.importorskip("tensorflow")

from landslide_mapper.core.imagery.bands import build_stack  # noqa: E402
from landslide_mapper.core.imagery.inputs import ModelInput  # noqa: E402
from landslide_mapper.core.io.readers import GdalReader  # noqa: E402
from landslide_mapper.core.model.spec import ModelSpec  # noqa: E402
from landslide_mapper.training.data import (  # noqa: E402
    Sample,
    bijie_split,
    cut_patches,
    inventory_sample,
    make_patchset,
    patch_starts,
    read_bijie,
    read_landslide4sense,
)

pytestmark = pytest.mark.slow


def test_patches_cover_the_image_and_mirror_small_ones():
    assert patch_starts(300) == [0, 96, 172]
    assert patch_starts(100) == [0]
    mask = np.zeros((61, 200), np.uint8)
    mask[10:20, 150:160] = 1
    sample = Sample("s", {"red": np.arange(61 * 200, dtype=np.float32).reshape(61, 200)}, mask)
    patches = list(cut_patches(sample))
    assert len(patches) == 2 and all(m.shape == (128, 128) for _, m in patches)
    first_red = patches[0][0]["red"]
    np.testing.assert_array_equal(first_red[:61], sample.sources["red"][:, :128])
    np.testing.assert_array_equal(first_red[61], sample.sources["red"][59, :128])  # mirrored, edge not repeated


def test_negative_share_is_respected():
    positives = [Sample(f"p{i}", {"red": np.ones((128, 128), np.float32)}, np.ones((128, 128), np.uint8))
                 for i in range(4)]
    negatives = [Sample(f"n{i}", {"red": np.ones((128, 128), np.float32)}, np.zeros((128, 128), np.uint8))
                 for i in range(5)]
    patches = make_patchset([*positives, *negatives], negative_share=0.2)
    empty = sum(not m.any() for m in patches.masks)
    assert len(patches) == 5 and empty == 1  # 4 positive patches + 1 negative = 20 %


@needs_data
def test_bijie_split_is_by_image_and_keeps_the_test_set_apart():
    train, val, test = bijie_split(SHARED_DATA / "bijie")
    assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
    stored = json.loads((ROOT / "training" / "splits" / "bijie_test.json").read_text())["test_ids"]
    assert sorted(test) == sorted(stored)
    assert 0.25 < len(val) / (len(train) + len(val)) < 0.35
    assert any(i.startswith("nls_") for i in test) and any(i.startswith("ls_") for i in test)


@needs_data
def test_bijie_reader_reads_native_resolution_rgb_and_binary_masks():
    samples = {s.id: s for s in read_bijie(SHARED_DATA / "bijie", ["ls_0000", "ls_0001"])}
    assert samples["ls_0000"].mask.shape == (94, 121)  # index.csv: width 121, height 94
    assert set(np.unique(samples["ls_0001"].mask)) <= {0, 1} and samples["ls_0001"].mask.any()
    assert samples["ls_0000"].sources["red"].max() <= 255


@needs_data
def test_landslide4sense_bands_and_slope():
    samples = read_landslide4sense(SHARED_DATA / "landslide4sense")
    assert len(samples) == 14
    s = samples[0]
    assert set(s.sources) == {"red", "green", "blue", "nir", "slope"}
    assert s.sources["slope"].shape == (128, 128)
    assert sum(x.mask.any() for x in samples) == 12  # PROVENANCE: 12 of 14 contain landslides


def test_training_patch_equals_detect_input_for_the_same_window(tmp_path, scene):
    """One implementation of the derived bands and normalization: a training patch cut
    from a raster becomes, batch-side, exactly what Detect feeds the model."""
    polygons = tmp_path / "inventory.gpkg"
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(polygons))
    layer = ds.CreateLayer("landslides", srs=srs, geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        "POLYGON ((440100 3019900, 440150 3019900, 440150 3019850, 440100 3019850, 440100 3019900))"))
    layer.CreateFeature(feature)
    ds = None
    bands = ("red", "green", "blue", "brightness", "slope")
    sample = inventory_sample(scene["image"], str(polygons), {"red": 1, "green": 2, "blue": 3},
                                   scene["dem"], bands)
    assert sample.mask[100:150, 100:150].all() and sample.mask.sum() == 2500
    spec = ModelSpec.from_dict({
        "spec_version": 1, "name": "t", "architecture": "unet", "bands": list(bands),
        "normalization": {"mean": [90, 100, 60, 85, 20], "std": [40, 40, 30, 35, 10]},
        "patch_size": 128, "size_multiple": 16, "threshold": 0.5, "output": "landslide_probability"})
    sources = {k: v[64:192, 32:160] for k, v in sample.sources.items()}
    slope = sources.pop("slope")
    training_input = build_stack(spec, sources, slope)
    from landslide_mapper.core.io.readers import dem_on_grid

    reader = GdalReader(scene["image"])
    detect_input, _ = ModelInput(spec, reader, {"red": 1, "green": 2, "blue": 3},
                                 dem_on_grid(scene["dem"], reader.grid)).read(32, 64, 128, 128)
    np.testing.assert_allclose(training_input, detect_input, rtol=0, atol=1e-5)
