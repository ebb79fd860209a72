"""training/datasets.py: datasets as objects (Bijie, Landslide4Sense, a raster inventory, a
patch folder), each split its own way, and the one a command line names."""

import numpy as np
import pytest
from locations import ROOT, SHARED_DATA
from training_samples import blob_samples, fake_bijie, needs_data

pytest.importorskip("tensorflow")

from landslide_mapper.training.data import inventory_sample, make_patchset  # noqa: E402

pytestmark = pytest.mark.slow


def test_bijie_dataset_keeps_its_pinned_test_images_out_of_fitting(tmp_path):
    from landslide_mapper.training.datasets import Bijie, dataset_at

    pinned = ROOT / "training" / "splits" / "bijie_test.json"
    before = pinned.read_bytes()
    bijie = dataset_at(fake_bijie(tmp_path / "bijie"))
    assert isinstance(bijie, Bijie) and bijie.resolution_m == 0.8
    split = bijie.split(0.3, seed=1)
    assert split.test == ("ls_0000", "ls_0008", "nls_0002")  # the pinned ids this copy holds, and only those
    assert split.validation == ("ls_0001", "ls_0006", "nls_0001")  # 30 % of the rest, per class
    assert set(split.train) == {f"ls_{i:04d}" for i in (2, 3, 4, 5, 7)} | {"nls_0000", "nls_0003", "nls_0004"}
    assert bijie.split(0.3, seed=99) == split  # the pinned split's seed, not the run's
    assert pinned.read_bytes() == before
    samples = bijie.samples(["ls_0006", "nls_0001"])
    assert [s.id for s in samples] == ["ls_0006", "nls_0001"] and set(samples[0].sources) == {"red", "green", "blue"}
    assert samples[0].mask.any() and not samples[1].mask.any() and set(np.unique(samples[0].mask)) <= {0, 1}
    patches = bijie.patches(split.train, 0.2, 42)
    assert set(patches.groups) <= set(split.train) and 0 < sum(not m.any() for m in patches.masks) < len(patches)
    assert bijie.provenance(0.3, 0.2) == {"name": "bijie", "path": str(tmp_path / "bijie"), "val_share": 0.3,
                                          "split": "training/splits/bijie_test.json held out", "negative_share": 0.2}


@needs_data
def test_landslide4sense_dataset_splits_by_patch_file_with_the_run_seed():
    from landslide_mapper.training.datasets import Landslide4Sense, dataset_at

    l4s = dataset_at(SHARED_DATA / "landslide4sense")
    assert isinstance(l4s, Landslide4Sense) and l4s.resolution_m == 10.0
    split = l4s.split(0.3, 42)
    assert len(split.train) == 10 and len(split.validation) == 4 and split.test == ()
    assert not set(split.train) & set(split.validation) and l4s.split(0.3, 7) != split
    sample = l4s.samples([split.validation[0]])[0]
    assert sample.id == split.validation[0] and set(sample.sources) == {"red", "green", "blue", "nir", "slope"}
    assert l4s.provenance(0.3, 0.2)["name"] == "landslide4sense"


def test_raster_inventory_dataset_is_cut_once_and_split_by_patch(tmp_path, scene):
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.datasets import RasterInventory

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    dataset = RasterInventory(scene["image"], inventory, dem=scene["dem"], bands=("red", "green", "blue", "slope"))
    assert dataset.resolution_m == pytest.approx(1.0)  # the scene's 1 m UTM pixels
    split = dataset.split(0.3, 0)
    everything = make_patchset([inventory_sample(scene["image"], inventory, {"red": 1, "green": 2, "blue": 3},
                                                 scene["dem"], ("red", "green", "blue", "slope"))], 0.2, 42)
    assert len(split.train) + len(split.validation) == len(everything) and split.test == ()
    assert split.validation == tuple(range(int(len(everything) * 0.7), len(everything)))  # the last ones validate
    train = dataset.patches(split.train, 0.5, 1)  # chosen when cut: another share changes nothing
    np.testing.assert_array_equal(train.masks, everything.masks[: len(split.train)])
    val = dataset.samples(split.validation)
    assert len(val) == len(split.validation) and val[0].mask.shape == (128, 128) and "slope" in val[0].sources
    np.testing.assert_array_equal(val[-1].sources["red"], everything.sources["red"][-1])
    assert dataset.provenance(0.3)["dem"] == scene["dem"]


def test_patch_folder_dataset_reads_what_create_patches_writes(tmp_path, scene):
    from landslide_mapper.core.imagery.patches import write_patch_folder
    from landslide_mapper.training.datasets import DatasetError, PatchFolder, dataset_at

    patches = make_patchset(blob_samples(5, 6) + blob_samples(2, 7, landslides=False), 0.25)
    folder = write_patch_folder(patches, tmp_path / "patches", {"image": scene["image"], "dem": None})
    dataset = dataset_at(folder)
    assert isinstance(dataset, PatchFolder) and dataset.resolution_m == pytest.approx(1.0)  # from patches.json's image
    split = dataset.split(0.25, 0)
    assert split.train == tuple(range(int(len(patches) * 0.75))) and split.validation[-1] == len(patches) - 1
    val = dataset.patches(split.validation)
    np.testing.assert_array_equal(val.masks, patches.masks[len(split.train):])
    provenance = dataset.provenance(0.25)
    assert provenance["folder"] == str(folder) and provenance["patches"] == len(patches)
    with pytest.raises(DatasetError, match="no patches.npz"):
        PatchFolder(tmp_path)
    with pytest.raises(DatasetError, match="not a Bijie, Landslide4Sense or training patch folder"):
        dataset_at(tmp_path)


def test_dataset_from_args_gives_one_dataset_per_source(tmp_path):
    import argparse

    from landslide_mapper.training.datasets import Bijie, DatasetError, PatchFolder, RasterInventory, dataset_from_args

    def args(**given):
        defaults = dict(data=None, patches=None, image=None, polygons=None, dem=None, red=1, green=2, blue=3,
                        bands=("red", "green", "blue", "brightness"), negative_share=0.2, seed=42)
        return argparse.Namespace(**{**defaults, **given})

    assert isinstance(dataset_from_args(args(data=str(fake_bijie(tmp_path / "b")))), Bijie)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "patches.npz").write_bytes(b"")
    assert isinstance(dataset_from_args(args(patches=str(tmp_path / "p"))), PatchFolder)
    inventory = dataset_from_args(args(image="a.tif", polygons="b.gpkg", red=3, blue=1))
    assert isinstance(inventory, RasterInventory) and inventory.band_numbers == {"red": 3, "green": 2, "blue": 1}
    with pytest.raises(DatasetError, match="--polygons"):
        dataset_from_args(args(image="a.tif"))
    with pytest.raises(DatasetError, match="give --data"):
        dataset_from_args(args())
