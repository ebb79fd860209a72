"""Input radiometry: 16-bit and float images detect like their 8-bit equivalent."""

import numpy as np
import pytest
from landslide_mapper.core.imagery import scaling
from landslide_mapper.core.imagery.inputs import InputError
from landslide_mapper.core.io.readers import ArrayReader, GdalReader
from landslide_mapper.core.model.spec import ModelSpec
from model_factory import build_model, default_spec
from rasters import read_raster, write_raster


@pytest.fixture(scope="module")
def scene_copies(scene, tmp_path_factory):
    """The 8-bit scene as 12-bit values in a UInt16 raster, as 0-1 float reflectances, and
    as an offset copy whose scale cannot be known (300 + 14 x value)."""
    folder = tmp_path_factory.mktemp("radiometry")
    image, geotransform, _, _ = read_raster(scene["image"])
    # as gdal_translate -ot UInt16 -scale 0 255 0 4095 makes it; its maximum must need 12 bits to be read as such
    assert image.max() * 4095 / 255 > 2047
    as_uint16 = np.round(image.astype(np.float32) * 4095 / 255).astype(np.uint16)
    as_float = (image.astype(np.float32) / 255.0).astype(np.float32)
    offset = (300 + 14 * image.astype(np.float32)).astype(np.float32)
    return {
        "uint16": write_raster(folder / "u16.tif", as_uint16, geotransform=geotransform),
        "float": write_raster(folder / "f32.tif", as_float, geotransform=geotransform),
        "offset": write_raster(folder / "offset.tif", offset, geotransform=geotransform),
        "low": np.percentile(image.reshape(3, -1), 2, axis=1), "high": np.percentile(image.reshape(3, -1), 98, axis=1),
    }


@pytest.fixture(scope="module")
def trained_on_the_scene(scene_copies, tmp_path_factory):
    """The bright-patch model, its spec recording the 8-bit imagery's percentiles as
    training would."""
    spec = default_spec(input_percentiles={"low": [float(v) for v in scene_copies["low"]],
                                           "high": [float(v) for v in scene_copies["high"]]})
    return build_model(tmp_path_factory.mktemp("model") / "bright.onnx", spec, brightness_band=3)


def detect_mask(image, model, folder, **params):
    import processing

    result = processing.run("landslidemapper:detect", {
        "INPUT": image, "MODEL_FILE": model, "MIN_AREA": 0, "OUTPUT_PROBABILITY": str(folder / "p.tif"),
        "OUTPUT_MASK": str(folder / "m.tif"), "OUTPUT_POLYGONS": str(folder / "l.gpkg"), **params})
    return read_raster(result["OUTPUT_MASK"])[0] == 1


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_16_bit_and_float_images_detect_like_the_8_bit_original(provider, scene, scene_copies,
                                                                 trained_on_the_scene, tmp_path):
    original = detect_mask(scene["image"], trained_on_the_scene, tmp_path / "8bit")
    assert original.sum() > 1000
    for kind in ("uint16", "float"):
        scaled = detect_mask(scene_copies[kind], trained_on_the_scene, tmp_path / kind)
        assert iou(scaled, original) > 0.99, kind  # the data's own scale: the 8-bit values again
        unscaled = detect_mask(scene_copies[kind], trained_on_the_scene, tmp_path / f"{kind}-none",
                               INPUT_SCALING="none")
        assert iou(unscaled, original) < 0.5, kind
    # a scale that cannot be known: the percentile stretch onto the training range, close enough here
    guessed = detect_mask(scene_copies["offset"], trained_on_the_scene, tmp_path / "offset")
    assert iou(guessed, original) > 0.9
    # manual: the offset copy's 300..3870 is the 8-bit 0..255 again (0-255 target)
    manual = detect_mask(scene_copies["offset"], trained_on_the_scene, tmp_path / "manual",
                         INPUT_SCALING="manual", SCALING_MIN=300, SCALING_MAX=300 + 14 * 255)
    assert iou(manual, original) > 0.99


def test_auto_leaves_8_bit_alone_and_stretches_once_for_the_whole_raster():
    spec = ModelSpec.from_dict(default_spec())
    rng = np.random.default_rng(0)
    eight_bit = rng.integers(0, 256, (3, 300, 300)).astype(np.uint8)
    assert scaling.choose_scaling("auto", ArrayReader(eight_bit), [1, 2, 3], spec) is None
    wide = eight_bit.astype(np.float32) * 100 - 5000  # floats of no known scale
    wide[:, :150] /= 4  # a darker half: one stretch serves both halves, no per-window stretch
    stretch = scaling.choose_scaling("auto", ArrayReader(wide), [1, 2, 3], spec)
    low, high = np.percentile(wide.reshape(3, -1), [2, 98], axis=1)
    np.testing.assert_allclose(stretch.low, low, rtol=0.05, atol=60)
    np.testing.assert_allclose(stretch.high, high, rtol=0.05)
    assert stretch.target_low == (0.0,) * 3 and stretch.target_high == (255.0,) * 3
    assert stretch.guess and "guess" in stretch.reason
    assert scaling.choose_scaling("none", ArrayReader(wide), [1, 2, 3], spec) is None


@pytest.mark.parametrize("values, bits, full_scale", [
    (4095, None, 4095.0),  # a 12-bit copy
    (2047, None, 2047.0),  # 11-bit (WorldView)
    (2048, None, 4095.0),  # over 11 bits: 12
    (3000, None, 4095.0),  # a 16-bit file using part of its range: its bit depth, not 16
    (65535, None, 65535.0),  # full 16-bit range
    (1000, 14, 16383.0),  # the file's declared NBITS wins over the values
])
def test_integer_data_is_scaled_by_its_bit_depth(tmp_path, values, bits, full_scale):
    from osgeo import gdal

    data = np.linspace(0, values, 3 * 64 * 64).reshape(3, 64, 64).astype(np.uint16)
    path = write_raster(tmp_path / "i.tif", data)
    if bits:  # as a sensor product declares it: GeoTIFF's NBITS
        path = str(tmp_path / "nbits.tif")
        gdal.Translate(path, str(tmp_path / "i.tif"), creationOptions=[f"NBITS={bits}"])
    spec = ModelSpec.from_dict(default_spec(input_percentiles={"low": [10, 10, 10], "high": [200, 200, 200]}))
    chosen = scaling.choose_scaling("auto", GdalReader(path), [1, 2, 3], spec)
    assert chosen.high == (full_scale,) * 3 and chosen.low == (0.0,) * 3 and chosen.target_high == (255.0,) * 3
    assert not chosen.guess and f"{int(np.log2(full_scale + 1))}-bit" in chosen.reason


def test_float_reflectance_and_float_display_values():
    spec = ModelSpec.from_dict(default_spec())
    reflectance = np.random.default_rng(1).random((3, 50, 50)).astype(np.float32)
    chosen = scaling.choose_scaling("auto", ArrayReader(reflectance), [1, 2, 3], spec)
    assert chosen.high == (1.0,) * 3 and "reflectance" in chosen.reason and not chosen.guess
    chosen = scaling.choose_scaling("auto", ArrayReader(reflectance * 255), [1, 2, 3], spec)
    assert chosen.high == (255.0,) * 3 and chosen.target_high == (255.0,) * 3


def test_manual_scaling_and_its_errors():
    spec = ModelSpec.from_dict(default_spec())
    manual = scaling.choose_scaling("manual", ArrayReader(np.zeros((3, 8, 8), np.uint16)), [1, 2, 3], spec,
                                    100.0, 1100.0)
    np.testing.assert_allclose(manual.apply(0, np.array([100.0, 600.0, 1100.0], np.float32)), [0, 127.5, 255])
    with pytest.raises(InputError, match="minimum below the maximum"):
        scaling.choose_scaling("manual", ArrayReader(np.zeros((3, 8, 8))), [1, 2, 3], spec, 5.0, 5.0)
    with pytest.raises(InputError, match="both a minimum and a maximum"):
        scaling.choose_scaling("manual", ArrayReader(np.zeros((3, 8, 8))), [1, 2, 3], spec, 5.0, None)


def test_all_nodata_sample_is_reported(tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.zeros((3, 64, 64), np.uint16), nodata=0)
    spec = ModelSpec.from_dict(default_spec())
    with pytest.raises(InputError, match="all nodata"):
        scaling.choose_scaling("auto", GdalReader(path), [1, 2, 3], spec)


def test_bands_are_picked_by_their_names(provider, scene, bright_model, tmp_path):
    """A BGRN product that names its bands detects exactly like the RGB original;
    explicit band numbers still win."""
    from osgeo import gdal

    image, geotransform, _, _ = read_raster(scene["image"])
    nir = np.full(image.shape[1:], 90, np.uint8)
    bgrn = write_raster(tmp_path / "bgrn.tif", np.stack([image[2], image[1], image[0], nir]),
                        geotransform=geotransform)
    dataset = gdal.Open(bgrn, gdal.GA_Update)
    for number, name in enumerate(("Blue", "Green", "Red", "NIR"), start=1):
        dataset.GetRasterBand(number).SetDescription(name)
    dataset = None
    original = detect_mask(scene["image"], bright_model, tmp_path / "rgb")
    named = detect_mask(bgrn, bright_model, tmp_path / "bgrn")
    assert np.array_equal(named, original)
    swapped = detect_mask(bgrn, bright_model, tmp_path / "explicit", RED_BAND=1, BLUE_BAND=3)
    assert np.array_equal(swapped, original)  # the same bands, given by hand
    wrong = detect_mask(bgrn, bright_model, tmp_path / "wrong", RED_BAND=4)
    assert not np.array_equal(wrong, original)


def xyz_tiles(image_path, folder, zoom):
    """XYZ tiles (256 px PNG, EPSG:3857) of a raster, cut with GDAL: a local stand-in for
    a post-event imagery service."""
    from osgeo import gdal

    half = 20037508.342789244
    tile = 2 * half / 2**zoom
    source = gdal.Open(image_path)
    corners = gdal.Warp("", source, options=gdal.WarpOptions(format="VRT", dstSRS="EPSG:3857"))
    gt = corners.GetGeoTransform()
    xmin, ymax = gt[0], gt[3]
    xmax, ymin = xmin + gt[1] * corners.RasterXSize, ymax + gt[5] * corners.RasterYSize
    for x in range(int((xmin + half) // tile), int((xmax + half) // tile) + 1):
        for y in range(int((half - ymax) // tile), int((half - ymin) // tile) + 1):
            bounds = (-half + x * tile, half - (y + 1) * tile, -half + (x + 1) * tile, half - y * tile)
            warped = gdal.Warp("", source, options=gdal.WarpOptions(
                format="MEM", dstSRS="EPSG:3857", outputBounds=bounds, width=256, height=256,
                resampleAlg="bilinear", dstAlpha=True))
            (folder / str(zoom) / str(x)).mkdir(parents=True, exist_ok=True)
            gdal.Translate(str(folder / str(zoom) / str(x) / f"{y}.png"), warped, format="PNG")
    return f"type=xyz&url=file://{folder}/{{z}}/{{x}}/{{y}}.png&zmin={zoom}&zmax={zoom}"


def test_a_web_tile_layer_is_read_at_a_chosen_ground_resolution(provider, scene, bright_model, tmp_path):
    """An XYZ service (here local tiles of the scene, zoom 18: about 0.5 m) read through
    QGIS's own provider at 1 m over the scene's extent detects what the GeoTIFF does."""
    import processing
    from qgis.core import QgsProcessingException, QgsRasterLayer

    layer = QgsRasterLayer(xyz_tiles(scene["image"], tmp_path / "tiles", 18), "post-event tiles", "wms")
    assert layer.isValid()
    image, (x0, px, _, y0, _, py), _, _ = read_raster(scene["image"])
    extent = f"{x0},{x0 + 512 * px},{y0 + 512 * py},{y0} [EPSG:32648]"
    common = {"MODEL_FILE": bright_model, "MIN_AREA": 0}
    web = processing.run("landslidemapper:detect", {
        "INPUT": layer, "EXTENT": extent, "RESOLUTION": 1.0, **common,
        "OUTPUT_PROBABILITY": str(tmp_path / "w_p.tif"), "OUTPUT_MASK": str(tmp_path / "w_m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "w.gpkg")})
    from osgeo import ogr

    def area(path):
        dataset = ogr.Open(path)
        return sum(f["area_m2"] for f in dataset.GetLayer())

    original = detect_mask(scene["image"], bright_model, tmp_path / "tif")
    found, expected = area(web["OUTPUT_POLYGONS"]), original.sum() * px * px
    assert 0.8 < found / expected < 1.25, (found, expected)
    mask, geotransform, _, _ = read_raster(web["OUTPUT_MASK"])
    assert 400 < mask.shape[1] < 640  # Web Mercator units are not ground metres: ~1.12 per metre here
    with pytest.raises(QgsProcessingException, match="web .* layer has no pixels of its own"):
        processing.run("landslidemapper:detect", {
            "INPUT": layer, **common, "OUTPUT_PROBABILITY": str(tmp_path / "x.tif"),
            "OUTPUT_MASK": str(tmp_path / "y.tif"), "OUTPUT_POLYGONS": str(tmp_path / "z.gpkg")})
