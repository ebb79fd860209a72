"""Detect's files as a user meets them: the counts it reports, a Shapefile output,
nothing written beside the input, paletted images, and thresholds refused in the
user's terms. Real QGIS Processing, real ONNX models, real files."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from locations import ROOT
from model_factory import area_filter, build_model, default_spec
from osgeo import gdal, ogr
from detect_runs import outputs, run
from rasters import read_raster, write_raster

ALG = "landslidemapper:detect"



def feature_count(path: str) -> int:
    dataset = ogr.Open(path)
    return dataset.GetLayer(0).GetFeatureCount()


def fields_and_values(path: str) -> tuple[list, list]:
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    rows = sorted(tuple(f.GetField(i) for i in range(len(names))) for f in layer)
    return names, rows


@pytest.fixture(scope="module")
def filtered_model(tmp_path_factory):
    """The bright-patch model with an object filter that sets aside polygons under 400 m²."""
    return build_model(tmp_path_factory.mktemp("filtered") / "filtered.onnx",
                       default_spec(object_filter=area_filter(400.0)), brightness_band=3)


def test_the_logged_counts_are_the_written_layers(provider, scene, filtered_model, tmp_path):
    """With the object filter on (the default), the log says how many polygons each layer
    holds, in QGIS and on the command line."""
    results, lines = run({"INPUT": scene["image"], "MODEL_FILE": filtered_model, "MIN_AREA": 20,
                          **outputs(tmp_path / "qgis"), "OUTPUT_DROPPED": str(tmp_path / "qgis" / "aside.gpkg")})
    kept, aside = feature_count(results["OUTPUT_POLYGONS"]), feature_count(results["OUTPUT_DROPPED"])
    assert kept >= 3 and aside >= 1, "the scene should have polygons on both sides of 400 m²"
    logged = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) landslide polygon\(s\)", line))]
    assert logged == [kept], lines
    logged_aside = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) polygon\(s\) set aside", line))]
    assert logged_aside == [aside], lines

    cli = subprocess.run([sys.executable, "-m", "core", "detect", "--input", scene["image"], "--output",
                          str(tmp_path / "cli"), "--model", filtered_model, "--min-area", "20"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    said = re.search(r"(\d+) polygons \((\d+) set aside", cli.stdout)
    assert said, cli.stdout
    assert (int(said.group(1)), int(said.group(2))) == (feature_count(str(tmp_path / "cli" / "landslides.gpkg")),
                                                        feature_count(str(tmp_path / "cli" / "set_aside.gpkg")))
    assert (int(said.group(1)), int(said.group(2))) == (kept, aside)


@pytest.mark.parametrize("with_filter", [True, False], ids=["object filter", "no object filter"])
def test_the_dialog_is_asked_to_load_only_layers_written(provider, scene, bright_model, filtered_model, tmp_path,
                                                         with_filter):
    """The dialog gives every output (the set-aside layer too) as a layer to load into the
    project; QGIS calls any it then cannot open "not correctly generated", an error after a
    run that succeeded. A model without an object filter (one Train landslide model wrote from
    few false alarms, say) writes no set-aside layer: it must not ask for it to be loaded."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    names = {**{k: Path(v).name for k, v in outputs(tmp_path).items()}, "OUTPUT_DROPPED": "aside.gpkg"}
    processing.run(ALG, {"INPUT": scene["image"], "MODEL_FILE": filtered_model if with_filter else bright_model,
                         "MIN_AREA": 20, **{k: QgsProcessingOutputLayerDefinition(str(tmp_path / name),
                                                                                   QgsProject.instance())
                                            for k, name in names.items()}}, context=context)
    to_load = sorted(Path(path).name for path in context.layersToLoadOnCompletion())
    assert to_load == sorted(n for k, n in names.items() if with_filter or k != "OUTPUT_DROPPED")
    assert all((tmp_path / name).is_file() for name in to_load)


def test_polygons_saved_as_a_shapefile(provider, scene, filtered_model, tmp_path):
    """A .shp output (and set-aside .shp) is written whole, with ≤10-character field names
    (the documented short names) holding the same values as the GeoPackage's."""
    from landslide_mapper.core.io.polygons import SHAPEFILE_FIELD_NAMES

    params = {"INPUT": scene["image"], "MODEL_FILE": filtered_model, "MIN_AREA": 20}
    gpkg, _ = run({**params, **outputs(tmp_path / "gpkg"), "OUTPUT_DROPPED": str(tmp_path / "gpkg" / "aside.gpkg")})
    shp, lines = run({**params, **outputs(tmp_path / "shp", "landslides.shp"),
                      "OUTPUT_DROPPED": str(tmp_path / "shp" / "aside.shp")})
    assert shp["OUTPUT_POLYGONS"].endswith("landslides.shp")
    for key in ("OUTPUT_POLYGONS", "OUTPUT_DROPPED"):
        names, rows = fields_and_values(shp[key])
        long_names, long_rows = fields_and_values(gpkg[key])
        assert names == [SHAPEFILE_FIELD_NAMES.get(n, n) for n in long_names]
        assert "perim_m" in names and "filt_score" in names
        assert all(len(n) <= 10 for n in names)
        assert len(rows) == len(long_rows) > 0
        for row, long_row in zip(rows, long_rows):
            assert row == pytest.approx(long_row, rel=1e-9), (names, row, long_row)
    # every file of both Shapefiles has its final name: nothing temporary is left behind
    names = {p.name for p in (tmp_path / "shp").iterdir()} - {"probability.tif", "mask.tif"}
    assert names - {"aside.cpg", "landslides.cpg"} == {
        f"{stem}.{ext}" for stem in ("aside", "landslides") for ext in ("dbf", "prj", "shp", "shx")}
    logged = [int(m.group(1)) for line in lines if (m := re.match(r"(\d+) landslide polygon\(s\)", line))]
    assert logged == [feature_count(shp["OUTPUT_POLYGONS"])]


def test_saliency_zones_saved_as_a_shapefile(provider, scene, bright_model, tmp_path):
    """Saliency's zones too: short field names, every zone, its landslide's id."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    image = tmp_path / "image.tif"
    gdal.Translate(str(image), scene["image"], srcWin=[0, 0, 256, 256])
    landslides, _ = run({"INPUT": str(image), "MODEL_FILE": bright_model, "MIN_AREA": 0, **outputs(tmp_path / "d")})
    result = processing.run("landslidemapper:saliency", {
        "INPUT": str(image), "MODEL_FILE": bright_model, "FALLBACK": True, "WINDOW": 64,
        "LANDSLIDES": landslides["OUTPUT_POLYGONS"], "OUTPUT_SALIENCY": str(tmp_path / "s.tif"),
        "OUTPUT_ZONES": str(tmp_path / "zones.shp")}, context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    names, rows = fields_and_values(result["OUTPUT_ZONES"])
    assert names == ["area_m2", "perim_m", "mean_sal", "max_sal", "percentile", "threshold", "method", "ls_id"]
    assert rows and all(row[2] is not None and row[6] == "occlusion" for row in rows)
    assert any(row[7] is not None for row in rows)


def test_detect_writes_nothing_beside_the_inputs(provider, scene, bright_model, slope_model, tmp_path):
    """No .aux.xml (the statistics QGIS computes when it opens a raster) or any other file
    appears beside the user's image or DEM, whether the image is 8-bit, 16-bit or paletted;
    an .aux.xml the user has is read (QGIS may add its statistics to it, as whenever it
    opens that file)."""
    folder = tmp_path / "input"
    folder.mkdir()
    rgb, gt, _, _ = read_raster(scene["image"])
    shutil.copy(scene["image"], folder / "image.tif")
    shutil.copy(scene["dem"], folder / "dem.tif")
    write_raster(folder / "sixteen.tif", (rgb.astype(np.uint16) * 16), geotransform=gt)
    paletted(scene["image"], folder / "paletted.tif")
    # a PNG georeferenced by its .aux.xml only (as some tools leave it): that CRS must still count
    png = gdal.Translate(str(folder / "image.png"), scene["image"], format="PNG")
    del png  # closed: its .aux.xml written
    srs = re.search(r"<SRS.*</SRS>", (folder / "image.png.aux.xml").read_text(), re.S).group(0)
    before = sorted(p.name for p in folder.iterdir())
    for name, model in (("image.tif", slope_model), ("sixteen.tif", bright_model), ("paletted.tif", bright_model),
                        ("image.png", bright_model)):
        results, _ = run({"INPUT": str(folder / name), "DEM": str(folder / "dem.tif"), "MODEL_FILE": model,
                          **outputs(tmp_path / name)})
        assert feature_count(results["OUTPUT_POLYGONS"]) > 0
        assert sorted(p.name for p in folder.iterdir()) == before, name
    assert read_raster(str(tmp_path / "image.png" / "mask.tif"))[1:3] == read_raster(scene["image"])[1:3]
    assert srs in (folder / "image.png.aux.xml").read_text()


def paletted(rgb_path: str, path: Path, nodata: int | None = None) -> str:
    """A one-band GeoTIFF with a colour table: ``rgb_path`` reduced to 64 colours."""
    source = gdal.Open(rgb_path)
    red, green, blue = (source.GetRasterBand(i) for i in (1, 2, 3))
    table = gdal.ColorTable()
    gdal.ComputeMedianCutPCT(red, green, blue, 64, table)
    out = gdal.GetDriverByName("GTiff").Create(str(path), source.RasterXSize, source.RasterYSize, 1, gdal.GDT_Byte)
    out.SetGeoTransform(source.GetGeoTransform())
    out.SetProjection(source.GetProjection())
    band = out.GetRasterBand(1)
    gdal.DitherRGB2PCT(red, green, blue, band, table)
    band.SetRasterColorTable(table)
    band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    out = None
    return str(path)


def test_a_paletted_image_is_read_as_its_colours(provider, scene, bright_model, tmp_path):
    """One band with a colour table (shown in colour by QGIS) is read as the red, green
    and blue of its colours, by the GDAL reader and by the QGIS provider reader, and Detect
    on it gives what it gives on the same colours stored as RGB."""
    from landslide_mapper.algorithms.qgis_reader import QgsProviderReader
    from landslide_mapper.core.io.readers import GdalReader
    from qgis.core import QgsRasterLayer

    path = paletted(scene["image"], tmp_path / "paletted.tif", nodata=0)
    expanded = str(tmp_path / "expanded.tif")
    gdal.Translate(expanded, path, rgbExpand="rgb")
    colours, _, _, _ = read_raster(expanded)
    indices = read_raster(path)[0]
    assert (indices == 0).any() and len(np.unique(indices)) > 16

    for reader in (GdalReader(path), QgsProviderReader(QgsRasterLayer(path, "paletted"))):
        assert reader.band_count == 3
        assert reader.band_roles() == {"red": 1, "green": 2, "blue": 3}
        assert reader.band_storage(1).kind == "byte"
        values, valid = reader.read([3, 1, 2], 100, 37, 90, 61)
        window = (slice(37, 98), slice(100, 190))
        np.testing.assert_array_equal(values, colours[[2, 0, 1]][(slice(None), *window)].astype(np.float32))
        np.testing.assert_array_equal(valid, indices[window] != 0)  # the nodata index is nodata

    on_palette, _ = run({"INPUT": path, "MODEL_FILE": bright_model, **outputs(tmp_path / "p")})
    on_rgb, _ = run({"INPUT": write_raster(tmp_path / "rgb.tif", colours, geotransform=read_raster(path)[1]),
                     "MODEL_FILE": bright_model, **outputs(tmp_path / "r")})
    mask = read_raster(on_palette["OUTPUT_MASK"])[0]
    rgb_mask = read_raster(on_rgb["OUTPUT_MASK"])[0]
    rgb_mask[indices == 0] = 255  # the paletted image's nodata
    # within the test network's reach (2 px) of nodata the inputs differ (nodata is filled
    # from its valid neighbours, the RGB copy has the colours): compare beyond it
    from scipy import ndimage

    near_nodata = ndimage.binary_dilation(indices == 0, iterations=3) & (indices != 0)
    np.testing.assert_array_equal(mask[~near_nodata], rgb_mask[~near_nodata])
    assert (mask == 1).sum() > 1000


@pytest.mark.parametrize("threshold", [1.0, 0.0])
def test_a_threshold_outside_0_1_is_refused_in_qgis(provider, scene, bright_model, tmp_path, threshold):
    """The parameter's range (0-1, ends included, as QGIS ranges are) lets the ends through:
    the engine refuses them, saying why."""
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"threshold .*between 0 and 1"):
        run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "THRESHOLD": threshold, **outputs(tmp_path)})
    assert list(tmp_path.iterdir()) == [], "a refused run writes nothing"


def test_a_threshold_outside_0_1_is_refused_on_the_command_line(scene, bright_model, tmp_path):
    cli = subprocess.run([sys.executable, "-m", "core", "detect", "--input", scene["image"], "--output",
                          str(tmp_path / "out"), "--model", bright_model, "--threshold", "5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert cli.returncode != 0
    assert re.search(r"threshold .*between 0 and 1.*got 5", cli.stderr), cli.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_shapefile_not_committed_leaves_none_of_its_files(tmp_path):
    from landslide_mapper.core.io.outputs import AtomicOutputs

    with AtomicOutputs() as atomic:
        temporary = atomic.temporary(str(tmp_path / "landslides.shp"))
        dataset = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(temporary)
        dataset.CreateLayer("landslides", geom_type=ogr.wkbPolygon).CreateField(ogr.FieldDefn("area_m2", ogr.OFTReal))
        dataset = None
        assert len(list(tmp_path.iterdir())) >= 4  # .shp, .shx, .dbf and the run's lock
    assert list(tmp_path.iterdir()) == []
