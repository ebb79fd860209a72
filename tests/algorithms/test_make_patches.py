"""Create training patches through QGIS Processing: a raster + inventory in another CRS."""

import json

import pytest
from landslide_mapper.core.imagery.patches import read_patch_folder
from rasters import read_raster


@pytest.fixture(scope="module")
def inventory(scene, tmp_path_factory):
    """The scene's truth as landslide polygons, stored in EPSG:4326 (not the image's CRS)."""
    from landslide_mapper.core.io.polygons import polygonize_mask
    from osgeo import gdal

    folder = tmp_path_factory.mktemp("inventory")
    utm = str(folder / "utm.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], utm, value_name="truth")
    wgs84 = str(folder / "inventory.gpkg")
    gdal.VectorTranslate(wgs84, utm, dstSRS="EPSG:4326", reproject=True)
    return wgs84


def test_patches_from_a_raster_and_an_inventory(provider, scene, inventory, tmp_path):
    import processing

    result = processing.run("landslidemapper:make_patches", {
        "INPUT": scene["image"], "POLYGONS": inventory, "DEM": scene["dem"], "BANDS": "red,green,blue,brightness,slope",
        "NEGATIVE_SHARE": 0.25, "OUTPUT_FOLDER": str(tmp_path / "patches")})
    patches = read_patch_folder(result["OUTPUT_FOLDER"])
    info = json.loads((tmp_path / "patches" / "patches.json").read_text())
    assert result["PATCHES"] == len(patches) == info["patches"] and sorted(patches.sources) == info["sources"]
    assert sorted(patches.sources) == ["blue", "green", "red", "slope"] and patches.masks.shape[1:] == (128, 128)
    positives = sum(bool(m.any()) for m in patches.masks)
    assert positives == result["WITH_LANDSLIDES"] > 0
    assert (len(patches) - positives) == round(positives * 0.25 / 0.75)  # the negative share, as asked
    # the inventory (in EPSG:4326) lands on the truth it was made from: reprojected, not shifted
    from landslide_mapper.core.imagery.patches import inventory_sample

    sample = inventory_sample(scene["image"], inventory, {"red": 1, "green": 2, "blue": 3})
    truth = read_raster(scene["truth"])[0]
    assert (sample.mask == (truth == 1)).mean() > 0.995 and sample.mask.sum() > 0.95 * (truth == 1).sum()


def test_patches_refuse_an_inventory_off_the_image(provider, scene, tmp_path):
    import processing
    from osgeo import ogr, osr
    from qgis.core import QgsProcessingException

    path = str(tmp_path / "far.gpkg")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = dataset.CreateLayer("far", srs=srs, geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON((0 0,10 0,10 10,0 10,0 0))"))
    layer.CreateFeature(feature)
    dataset = None
    with pytest.raises(QgsProcessingException, match="No landslide polygon falls on the image"):
        processing.run("landslidemapper:make_patches", {"INPUT": scene["image"], "POLYGONS": path,
                                                        "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out" / "patches.npz").exists()


def test_patches_use_the_crs_assigned_in_qgis(provider, scene, inventory, tmp_path):
    """An image file without a CRS, its CRS assigned on the layer in QGIS: the inventory
    (in EPSG:4326) is reprojected onto that CRS, so the patches hold the landslides."""
    import processing
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer
    from rasters import write_raster

    image, gt, _, _ = read_raster(scene["image"])
    bare = write_raster(tmp_path / "no_crs.tif", image, epsg=None, geotransform=gt)
    layer = QgsRasterLayer(str(bare), "no crs")
    layer.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    result = processing.run("landslidemapper:make_patches", {
        "INPUT": layer, "POLYGONS": inventory, "NEGATIVE_SHARE": 0.0, "OUTPUT_FOLDER": str(tmp_path / "patches")})
    assert result["WITH_LANDSLIDES"] > 0
    truth = read_raster(scene["truth"])[0]
    patches = read_patch_folder(result["OUTPUT_FOLDER"])
    assert sum(int(m.sum()) for m in patches.masks) >= 0.9 * int((truth == 1).sum())
