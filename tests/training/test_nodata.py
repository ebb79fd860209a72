"""Nodata in a raster inventory (a mosaic's gutter and collar) through training/: never read
as landslide-free ground. Regions mostly without data are dropped; in the others nodata is
filled as Detect fills it (core's fill_from_nearest_valid), left out of the loss (IGNORE
in the crops' masks) and given no probability in validation, as Detect gives none."""

import numpy as np
import pytest
from osgeo import ogr, osr
from rasters import write_raster

X0, Y0 = 440000.0, 3020000.0  # the rasters helper's 1-m UTM grid: pixel (row, col) at (X0 + col, Y0 - row)
GUTTER = slice(250, 262)  # nodata columns between two scenes of the mosaic
COLLAR = 400  # nodata from this column on: the mosaic's edge


@pytest.fixture
def mosaic(tmp_path):
    """A 512 x 512 px RGB GeoTIFF (nodata 0) with a gutter and a collar, and landslide
    polygons: one in each scene, one across the gutter, one in the collar."""
    rng = np.random.default_rng(3)
    image = rng.integers(40, 120, (3, 512, 512)).astype(np.uint8)
    image[:, :, GUTTER] = 0
    image[:, :, COLLAR:] = 0
    boxes = [(40, 60, 30, 40), (300, 230, 40, 50), (140, 300, 30, 30), (200, 430, 40, 40)]  # row, col, h, w
    for row, col, h, w in boxes:
        image[:, row:row + h, col:col + w] = np.maximum(image[:, row:row + h, col:col + w], 1) + 120
    image[:, :, GUTTER] = 0  # the gutter and collar hold no data, even under a polygon
    image[:, :, COLLAR:] = 0
    path = write_raster(tmp_path / "mosaic.tif", image, nodata=0)
    polygons = str(tmp_path / "landslides.gpkg")
    crs = osr.SpatialReference()
    crs.ImportFromEPSG(32648)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(polygons)  # held: the layer dies with it
    layer = dataset.CreateLayer("landslides", crs, ogr.wkbPolygon)
    for row, col, h, w in boxes:
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((col, row), (col + w, row), (col + w, row + h), (col, row + h), (col, row)):
            ring.AddPoint_2D(X0 + x, Y0 - y)
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
    layer = dataset = None
    return path, polygons


def test_regions_mostly_without_data_are_dropped_and_the_gutter_is_filled_not_zero(mosaic):
    from landslide_mapper.training.datasets import RasterRegions

    dataset = RasterRegions(*mosaic, region_size=128)
    split = dataset.split(0.25, 42)
    ids = set(split.train + split.validation)
    assert ids == {f"r{i}c{j}" for i in range(4) for j in range(3)}  # column 3 (384-512) is 1/8 data: dropped
    assert any(dataset.samples([i])[0].mask.any() for i in split.validation)
    across = dataset.samples(["r2c1"])[0]  # columns 128-255: the gutter's left half at 122-127
    assert across.valid is not None and not across.valid[:, 122:].any() and across.valid[:, :122].all()
    assert not across.mask[:, 122:].any() and across.mask[:, 102:122].any()  # the landslide stops at the gutter
    for band in across.sources.values():  # the gutter continues its neighbour, as Detect fills a window
        np.testing.assert_array_equal(band[:, 122:], np.repeat(band[:, 121:122], 6, axis=1))
    assert dataset.samples(["r0c0"])[0].valid is None  # a region with data everywhere says so


def test_crops_mark_nodata_ignore_and_the_loss_leaves_it_out(mosaic):
    from landslide_mapper.training.augment import IGNORE
    from landslide_mapper.training.campaign import targets
    from landslide_mapper.training.datasets import RasterRegions
    from landslide_mapper.training.sampler import CropMix, CropSampler

    across = RasterRegions(*mosaic, region_size=128).samples(["r2c1"])[0]
    sampler = CropSampler([across], CropMix(positive_share=0.5), seed=0, size=128, augment_crops=False)
    sources, masks, _ = sampler.draw(4)  # a 128-px region in a 128-px crop: the region itself, every time
    for crop, mask in zip(sources, masks):
        assert (mask[:, 122:] == IGNORE).all() and set(np.unique(mask[:, :122])) == {0, 1}
        assert all(np.isfinite(band).all() and band[:, 122:].min() > 0 for band in crop.values())
    landslide, known = targets(masks)
    assert landslide.shape == known.shape == (4, 128, 128, 1)
    assert not known[:, :, 122:].any() and known[:, :, :122].all()
    assert not landslide[:, :, 122:].any() and landslide.sum() == (masks == 1).sum()


def test_the_field_collar_is_nodata_too():
    """training.augment's simulated collar and a raster's own nodata are one thing."""
    from landslide_mapper.training.augment import IGNORE, field_jitter

    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 1
    collars = 0
    for seed in range(60):
        sources = {"red": np.random.default_rng(seed).uniform(50, 100, mask.shape).astype(np.float32)}
        _, out = field_jitter(sources, mask.copy(), np.random.default_rng(seed))
        collars += bool((out == IGNORE).any())
        assert set(np.unique(out)) <= {0, 1, IGNORE}
    assert collars >= 2


def test_validation_gives_nodata_no_probability(mosaic, bright_model):
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training.datasets import RasterRegions
    from landslide_mapper.training.evaluate import ValidationMosaic, predict_sample

    dataset = RasterRegions(*mosaic, region_size=128)
    across = dataset.samples(["r2c1"])[0]
    probability = predict_sample(OnnxModel(bright_model), across)
    assert np.isnan(probability[:, 122:]).all() and np.isfinite(probability[:, :122]).all()
    scene = ValidationMosaic.of(dataset.samples(["r0c0", "r2c1"])).scene  # one scene: the gutter is nodata there too
    gutter = np.isnan(scene.sources["red"])
    assert gutter.sum() == 128 * 6 and not np.isnan(scene.sources["red"][~gutter]).any()
