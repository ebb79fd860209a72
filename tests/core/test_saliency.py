"""Saliency rasters and salient zones: engine, algorithm, model chain and qgis_process."""

import os

import numpy as np
import pytest
from landslide_mapper.core.engine.streaming import WindowSettings, predict_raster
from landslide_mapper.core.engine.windows import AxisGrid
from landslide_mapper.core.imagery.inputs import ModelInput
from landslide_mapper.core.io.polygons import polygonize_mask
from landslide_mapper.core.io.readers import GdalReader
from landslide_mapper.core.model.onnx_model import ModelError, OnnxModel
from landslide_mapper.core.saliency import raster_percentile, saliency, saliency_model_for, write_above
from osgeo import gdal, ogr
from scipy import ndimage
from rasters import random_image, read_raster, write_raster

pytestmark = pytest.mark.slow
RGB = {"red": 1, "green": 2, "blue": 3}


def run_saliency_rows(model, inputs, window, overlap):
    out = np.zeros((inputs.grid.height, inputs.grid.width), np.float32)

    def keep(row0, values, valid):
        out[row0 : row0 + len(values)] = values

    predict_raster(inputs, model.predict, WindowSettings(window, overlap, 4), keep)
    return out


def test_raster_of_one_window_equals_the_graph_output(exported_model, tmp_path):
    image = random_image((128, 128), seed=3)
    path = write_raster(tmp_path / "img.tif", image)
    model = saliency_model_for(exported_model)
    inputs = ModelInput(model.spec, GdalReader(path), RGB)
    raster = run_saliency_rows(model, inputs, 128, 0)
    stack, _ = inputs.read(0, 0, 128, 128)
    direct = model.session.run(None, {model.input_name: stack.transpose(1, 2, 0)[None]})[0][0]
    np.testing.assert_allclose(raster, direct, rtol=1e-6, atol=1e-12)


def test_saliency_is_the_gradient_of_the_mean_prediction(exported_model, tmp_path):
    """Finite differences of Detect's own prediction on the pipeline's input (bands picked
    and normalized by the spec) agree with the saliency raster at sampled pixels."""
    image = random_image((128, 128), seed=5)
    path = write_raster(tmp_path / "img.tif", image)
    model = saliency_model_for(exported_model)
    prediction = OnnxModel(exported_model)
    inputs = ModelInput(model.spec, GdalReader(path), RGB)
    raster = run_saliency_rows(model, inputs, 128, 0)
    stack, _ = inputs.read(0, 0, 128, 128)
    h = 1e-2
    for r, c in [(64, 64), (5, 120), (100, 30)]:
        grads = []
        for band in range(stack.shape[0]):
            plus, minus = stack.copy(), stack.copy()
            plus[band, r, c] += h
            minus[band, r, c] -= h
            difference = prediction.predict(plus[None]).astype(np.float64).mean() - \
                prediction.predict(minus[None]).astype(np.float64).mean()
            grads.append(abs(difference) / (2 * h))
        assert raster[r, c] == pytest.approx(np.mean(grads), rel=0.05), (r, c)


def test_no_seams_at_window_borders(exported_model, scene):
    model = saliency_model_for(exported_model)
    inputs = ModelInput(model.spec, GdalReader(scene["image"]), RGB)

    def border_jump(overlap):
        """Jump of the column-mean saliency across window edges, relative to its usual
        column-to-column change: a seam is a systematic step at every window edge."""
        s = run_saliency_rows(model, inputs, 128, overlap)
        steps = np.abs(np.diff(s.mean(axis=0)))
        grid = AxisGrid(512, 128, overlap)
        edges = {grid.start(j) + k - 1 for j in range(grid.count) for k in (0, 128)}
        edges = [e for e in edges if 0 <= e < len(steps)]
        return steps[edges].mean() / np.median(steps)

    hard, blended = border_jump(0), border_jump(32)
    assert hard > 2.0, hard  # hard window edges do show
    assert blended < 1.5, blended  # blending hides them


def test_percentile_is_exact_and_zones_are_exactly_the_pixels_above(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 1e-4, (300, 257)).astype(np.float32)
    values[:10, :10] = -9999.0
    path = write_raster(tmp_path / "sal.tif", values, nodata=-9999.0)
    valid = values[values != -9999.0]
    for q in (50.0, 95.0, 99.9):
        assert raster_percentile(path, q) == pytest.approx(float(np.percentile(valid, q)), rel=1e-6)
    threshold = raster_percentile(path, 95.0)
    mask_path = str(tmp_path / "above.tif")
    write_above(path, mask_path, threshold)
    mask = read_raster(mask_path)[0]
    np.testing.assert_array_equal(mask == 1, values > threshold)
    assert np.all(mask[:10, :10] == 255)
    zones = str(tmp_path / "zones.gpkg")
    count, _set_aside = polygonize_mask(mask_path, path, zones, value_name="saliency", layer_name="salient_zones")
    dataset = ogr.Open(zones)
    layer = dataset.GetLayer()
    assert count == layer.GetFeatureCount() > 0
    # rasterizing the zones back gives exactly the pixels above the threshold
    target = gdal.GetDriverByName("MEM").Create("", 257, 300, 1, gdal.GDT_Byte)
    target.SetGeoTransform(GdalReader(path).grid.geotransform)
    target.SetProjection(GdalReader(path).grid.crs_wkt)
    gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    np.testing.assert_array_equal(target.ReadAsArray() == 1, values > threshold)
    for feature in layer:
        assert feature["max_saliency"] > threshold and feature["mean_saliency"] > threshold


def test_model_without_saliency_graph_is_refused_clearly(bright_model):
    with pytest.raises(ModelError, match="has no saliency graph"):
        saliency_model_for(bright_model)


def test_saliency_engine_output_is_georeferenced_and_keeps_nodata(exported_model, tmp_path):
    image = random_image((200, 150), seed=1)
    image[image == 0] = 1
    image[:, 50:70, :] = 0
    gt = (500000.0, 0.5, 0.0, 4000000.0, 0.0, -0.5)
    path = write_raster(tmp_path / "img.tif", image, epsg=32633, geotransform=gt, nodata=0)
    model = saliency_model_for(exported_model)
    inputs = ModelInput(model.spec, GdalReader(path), RGB)
    out = tmp_path / "out"
    result = saliency(inputs, model, str(out / "s.tif"), WindowSettings(128, 32), zones_path=str(out / "z.gpkg"))
    values, got_gt, crs, nodata = read_raster(out / "s.tif")
    assert got_gt == gt and crs == read_raster(path)[2]
    assert np.all(values[50:70] == nodata) and np.all(values[:50] >= 0)
    assert sorted(os.listdir(out)) == ["s.tif", "z.gpkg"]  # no intermediate left behind
    assert result.zone_count > 0


def processing_run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(alg, params, context=QgsProcessingContext(), feedback=QgsProcessingFeedback())


def test_saliency_algorithm_links_zones_to_detected_landslides(provider, scene, exported_model, tmp_path):
    detected = processing_run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": exported_model, "MIN_AREA": 0,
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"), "OUTPUT_MASK": str(tmp_path / "m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")})
    result = processing_run("landslidemapper:saliency", {
        "INPUT": scene["image"], "MODEL_FILE": exported_model, "LANDSLIDES": detected["OUTPUT_POLYGONS"],
        "PERCENTILE": 90, "OUTPUT_SALIENCY": str(tmp_path / "s.tif"), "OUTPUT_ZONES": str(tmp_path / "z.gpkg")})
    saliency_values = read_raster(result["OUTPUT_SALIENCY"])[0]
    assert saliency_values.shape == (512, 512)
    dataset = ogr.Open(result["OUTPUT_ZONES"])
    layer = dataset.GetLayer()
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names == ["area_m2", "perimeter_m", "mean_saliency", "max_saliency", "percentile", "threshold", "method",
                     "landslide_id"]
    landslides = ogr.Open(detected["OUTPUT_POLYGONS"])
    fids = {f.GetFID() for f in landslides.GetLayer()}
    linked = [f["landslide_id"] for f in layer if f["landslide_id"] is not None]
    assert set(linked) <= fids
    if fids:
        assert linked, "some salient zone should fall in a detected landslide"


def test_saliency_reads_the_named_layer_of_a_multi_layer_geopackage(provider, scene, exported_model, tmp_path):
    """LANDSLIDES given as one layer of a GeoPackage that holds another first: the zones
    link to that layer's polygons, not to the file's first layer."""
    from osgeo import gdal

    detected = processing_run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": exported_model, "MIN_AREA": 0,
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"), "OUTPUT_MASK": str(tmp_path / "m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")})
    both = str(tmp_path / "both.gpkg")
    decoy = ogr.GetDriverByName("GPKG").CreateDataSource(both)
    source = ogr.Open(detected["OUTPUT_POLYGONS"])  # held: a layer does not keep its dataset alive
    srs = source.GetLayer().GetSpatialRef()
    layer = decoy.CreateLayer("decoy", srs=srs, geom_type=ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(  # covers the whole scene
        "POLYGON ((430000 3030000, 450000 3030000, 450000 3010000, 430000 3010000, 430000 3030000))"))
    feature.SetFID(1000)
    layer.CreateFeature(feature)
    decoy = None
    gdal.VectorTranslate(both, detected["OUTPUT_POLYGONS"], accessMode="append", layerName="landslides")
    result = processing_run("landslidemapper:saliency", {
        "INPUT": scene["image"], "MODEL_FILE": exported_model, "LANDSLIDES": f"{both}|layername=landslides",
        "PERCENTILE": 90, "OUTPUT_SALIENCY": str(tmp_path / "s.tif"), "OUTPUT_ZONES": str(tmp_path / "z.gpkg")})
    written, zones = ogr.Open(both), ogr.Open(result["OUTPUT_ZONES"])
    fids = {f.GetFID() for f in written.GetLayerByName("landslides")}
    linked = {f["landslide_id"] for f in zones.GetLayer() if f["landslide_id"] is not None}
    assert linked and linked <= fids and 1000 not in linked


def test_saliency_refuses_a_window_other_than_the_patch(provider, scene, exported_model, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="exactly 128 pixels"):
        processing_run("landslidemapper:saliency", {
            "INPUT": scene["image"], "MODEL_FILE": exported_model, "WINDOW": 256,
            "OUTPUT_SALIENCY": str(tmp_path / "o" / "s.tif"), "OUTPUT_ZONES": str(tmp_path / "o" / "z.gpkg")})
    assert not (tmp_path / "o").exists() or os.listdir(tmp_path / "o") == []


def test_detect_then_saliency_in_a_graphical_model(provider, scene, exported_model, tmp_path):
    from modeler import add_child, image_chain, run_saved

    chain = image_chain("detect and explain")
    add_child(chain, "landslidemapper:detect", "detect", static={"MODEL_FILE": exported_model, "MIN_AREA": 0})
    add_child(chain, "landslidemapper:saliency", "saliency", static={"MODEL_FILE": exported_model},
              from_children={"LANDSLIDES": ("detect", "OUTPUT_POLYGONS")},
              outputs={"zones": "OUTPUT_ZONES", "saliency": "OUTPUT_SALIENCY"})
    result = run_saved(chain, str(tmp_path / "chain.model3"), {
        "image": scene["image"], "saliency:zones": str(tmp_path / "z.gpkg"), "saliency:saliency": str(tmp_path / "s.tif"),
    })
    dataset = ogr.Open(result["saliency:zones"])
    assert dataset.GetLayer().GetFeatureCount() > 0
    assert read_raster(result["saliency:saliency"])[0].shape == (512, 512)


def test_boundary_share_on_a_constructed_case(tmp_path):
    from landslide_mapper.core.io.polygons import boundary_summary

    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1  # a 20 x 20 px square landslide
    edge_only = np.zeros((40, 40), np.float32)
    edge_only[10:30, 10:30] = 1.0
    edge_only[12:28, 12:28] = 0.0  # saliency only on the 2-px ring inside the outline
    uniform = np.where(mask == 1, 1.0, 0.0).astype(np.float32)
    mask_path = write_raster(tmp_path / "m.tif", mask)
    for name, values, share in (("edge", edge_only, 1.0), ("uniform", uniform, (400 - 256) / 400)):
        path = write_raster(tmp_path / f"{name}.tif", values)
        out = str(tmp_path / f"{name}.gpkg")
        polygonize_mask(mask_path, path, out, annotations=boundary_summary(path, "saliency"))
        dataset = ogr.Open(out)
        feature = dataset.GetLayer().GetNextFeature()
        assert feature["boundary_saliency_share"] == pytest.approx(share, abs=1e-4), name
        assert feature["mean_saliency"] == pytest.approx(values[mask == 1].mean(), rel=1e-4)


def test_detect_adds_the_saliency_summary(provider, scene, exported_model, tmp_path):
    result = processing_run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": exported_model, "MIN_AREA": 0, "SALIENCY_SUMMARY": True,
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"), "OUTPUT_MASK": str(tmp_path / "m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")})
    assert sorted(os.listdir(tmp_path)) == ["l.gpkg", "m.tif", "p.tif"]  # the saliency raster was intermediate
    dataset = ogr.Open(result["OUTPUT_POLYGONS"])
    layer = dataset.GetLayer()
    assert layer.GetFeatureCount() > 0
    for feature in layer:
        assert feature["mean_saliency"] is None or feature["mean_saliency"] > 0
        share = feature["boundary_saliency_share"]
        assert share is None or 0.0 <= share <= 1.0


def test_occlusion_fallback_is_offered_and_labelled(provider, scene, bright_model, tmp_path):
    from qgis.core import QgsProcessingException

    params = {"INPUT": scene["image"], "MODEL_FILE": bright_model, "WINDOW": 64,
              "OUTPUT_SALIENCY": str(tmp_path / "s.tif"), "OUTPUT_ZONES": str(tmp_path / "z.gpkg")}
    with pytest.raises(QgsProcessingException, match="has no saliency graph"):
        processing_run("landslidemapper:saliency", params)
    result = processing_run("landslidemapper:saliency", {**params, "FALLBACK": True})
    dataset = gdal.Open(result["OUTPUT_SALIENCY"])
    assert dataset.GetMetadataItem("SALIENCY_METHOD").startswith("occlusion")
    values = dataset.ReadAsArray()
    truth = read_raster(scene["truth"])[0]
    # the bright-patch model depends on the scars: occluding them changes its output most
    assert values[truth == 1].mean() > 3 * values[truth == 0].mean()
    zones = ogr.Open(result["OUTPUT_ZONES"])
    assert {f["method"] for f in zones.GetLayer()} == {"occlusion"}


def test_salient_zones_come_from_the_local_mean_and_are_big_enough_to_review(tmp_path):
    """Speckled saliency (the raw gradient) gives thousands of one-pixel zones; the zones
    are read from its 7 x 7 local mean instead (exact, nodata kept, strips joined
    seamlessly), so two blobs of raised saliency give two zones, not a speckle field."""
    from landslide_mapper.core.saliency import ZONE_MIN_PIXELS, ZONE_SMOOTHING_PX, write_local_mean

    rng = np.random.default_rng(1)
    values = rng.gamma(2.0, 1e-4, (300, 257)).astype(np.float32)
    values[40:90, 30:100] *= 3.0
    values[200:260, 150:230] *= 3.0
    values[:10, :10] = -9999.0
    path = write_raster(tmp_path / "sal.tif", values, nodata=-9999.0)
    smoothed_path = str(tmp_path / "smoothed.tif")
    write_local_mean(path, smoothed_path, ZONE_SMOOTHING_PX, rows=64)  # several strips
    smoothed = read_raster(smoothed_path)[0]
    r, valid = ZONE_SMOOTHING_PX, values != -9999.0
    for y, x in ((0, 12), (63, 100), (64, 100), (150, 0), (299, 256), (45, 60)):
        window = np.s_[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
        assert smoothed[y, x] == pytest.approx(values[window][valid[window]].mean(), rel=1e-5)
    assert np.all(smoothed[:10, :10] == -9999.0)
    raw_specks = ndimage.label(values > np.percentile(values[valid], 95))[1]
    mask_path = str(tmp_path / "above.tif")
    write_above(smoothed_path, mask_path, raster_percentile(smoothed_path, 95.0))
    labels, _count = ndimage.label(read_raster(mask_path)[0] == 1)
    sizes = np.bincount(labels.ravel())[1:]
    kept = sizes >= ZONE_MIN_PIXELS  # what becomes a zone
    assert raw_specks > 500 and kept.sum() <= 10, sorted(sizes)[-12:]
    assert sizes[kept].sum() > 0.8 * sizes.sum()  # and they hold most of the salient pixels
    inside = labels[40:90, 30:100].any() and labels[200:260, 150:230].any()
    assert inside and not labels[100:190, :].any()  # both blobs, nothing between them
