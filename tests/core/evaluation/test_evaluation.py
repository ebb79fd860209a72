"""Scoring a landslide map against a reference: constructed cases whose answer is known
by hand, through the core function, processing.run and qgis_process."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from landslide_mapper.core.engine.progress import SILENT, Progress
from landslide_mapper.core.errors import Cancelled, UserError
from landslide_mapper.core.evaluation import scoring
from landslide_mapper.core.evaluation.scoring import (
    EvaluationError,
    EvaluationOutputs,
    EvaluationRequest,
    LandslideMap,
    evaluate_maps,
)
from locations import ARTIFACTS
from osgeo import ogr, osr
from rasters import write_raster

ORIGIN_X, ORIGIN_Y = 440000.0, 3020000.0  # UTM 48N, 1 m pixels (write_raster's default grid)
SIZE = 40


def square(row0, col0, rows, cols):
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[row0 : row0 + rows, col0 : col0 + cols] = 1
    return mask


def pixel_box(row0, col0, rows, cols):
    """The polygon of whole pixels [row0, row0+rows) x [col0, col0+cols), in UTM."""
    x0, x1 = ORIGIN_X + col0, ORIGIN_X + col0 + cols
    y0, y1 = ORIGIN_Y - row0 - rows, ORIGIN_Y - row0
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def write_layer(path, wkts, epsg=32648, geom_type=ogr.wkbPolygon):
    """A GeoPackage layer of the given UTM geometries, reprojected to ``epsg``."""
    utm, target = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32648)
    target.ImportFromEPSG(epsg)
    for srs in (utm, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(utm, target)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = dataset.CreateLayer("features", srs=target, geom_type=geom_type)
    for wkt in wkts:
        geometry = ogr.CreateGeometryFromWkt(wkt)
        if epsg != 32648:
            geometry = geometry.Clone()
            geometry.Segmentize(0.25)  # keep the outline where it was after reprojection
            geometry.Transform(transform)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(geometry)
        layer.CreateFeature(feature)
    dataset = None
    return str(path)


def point(row, col):
    return f"POINT({ORIGIN_X + col + 0.5} {ORIGIN_Y - row - 0.5})"


def run(tmp_path, prediction, reference, progress=SILENT, **options):
    outputs = EvaluationOutputs(objects=str(tmp_path / "objects.gpkg"), errors=str(tmp_path / "errors.gpkg"),
                                points=str(tmp_path / "points.gpkg"), report=str(tmp_path / "report.html"))
    request = EvaluationRequest(prediction=LandslideMap(str(prediction)), reference=LandslideMap(str(reference)),
                                outputs=outputs, **options)
    return evaluate_maps(request, progress)


def object_counts(result, keys=("objects_detected", "objects_missed", "false_alarm_objects")):
    """The object counts of a result, in the one scorer's keys."""
    return tuple(result.scores[k] for k in keys)


def features(path, layer=None):
    dataset = ogr.Open(str(path))
    source = dataset.GetLayerByName(layer) if layer else dataset.GetLayer(0)
    return [feature.items() for feature in source]


# 10 x 10 reference square, prediction shifted right by 5: TP/FP/FN/TN = 50/50/50/1450
REFERENCE_SQUARE, SHIFTED_SQUARE = (5, 5, 10, 10), (5, 10, 10, 10)


def test_perfect_map(tmp_path):
    mask = square(*REFERENCE_SQUARE) | square(25, 25, 5, 8)
    result = run(tmp_path, write_raster(tmp_path / "p.tif", mask), write_raster(tmp_path / "r.tif", mask))
    s = result.scores
    assert (s["precision"], s["recall"], s["f1"], s["iou"], s["accuracy"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (140, 0, 0, SIZE * SIZE - 140)
    assert object_counts(result) == (2, 0, 0)


def test_empty_prediction_misses_everything(tmp_path):
    result = run(tmp_path, write_raster(tmp_path / "p.tif", np.zeros((SIZE, SIZE), np.uint8)),
                 write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)))
    s = result.scores
    assert (s["tp"], s["fp"], s["fn"], s["precision"], s["recall"], s["f1"]) == (0, 0, 100, 0.0, 0.0, 0.0)
    assert object_counts(result) == (0, 1, 0)


def test_disjoint_prediction_is_a_false_alarm_and_a_miss(tmp_path):
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(25, 25, 4, 5)),
                 write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)))
    s = result.scores
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (0, 20, 100, SIZE * SIZE - 120)
    assert object_counts(result) == (0, 1, 1)


def test_report_puts_each_count_in_its_cell_and_says_only_what_applies(tmp_path):
    """Rows predicted landslide / not, columns reference landslide / not: FP (20, predicted
    but not in the reference) sits top right, FN (100) bottom left. No points, no points sentence."""
    import re

    run(tmp_path, write_raster(tmp_path / "p.tif", square(25, 25, 4, 5)),
        write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)))
    report = (tmp_path / "report.html").read_text()
    svg = report[report.index("<svg"):report.index("</svg>")]
    heads = {text: float(x) for x, text in re.findall(r'<text x="([\d.]+)" y="45"[^>]*>([^<]+)<', svg)}
    rows = {text: float(y) for y, text in re.findall(r'<text x="60" y="([\d.]+)"[^>]*>([^<]+)<', svg)}
    cells = {label: (float(x), float(y)) for x, y, label in
             re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" font-weight="bold">(\w+)<', svg)}
    counts = dict(re.findall(r'font-weight="bold">(\w+)</text>\s*<text[^>]*>([\d,]+)<', svg))
    assert counts["FP"] == "20" and counts["FN"] == "100" and counts["TP"] == "0"
    assert cells["FP"][0] - 70 < heads["not landslide"] < cells["FP"][0] + 70  # column: reference not
    assert cells["FN"][0] - 70 < heads["landslide"] < cells["FN"][0] + 70  # column: reference landslide
    assert abs(cells["FP"][1] - cells["TP"][1]) < 1 and cells["FP"][1] < rows["predicted not"]  # row: predicted
    assert cells["FN"][1] > rows["landslide"]  # row: predicted not
    assert "Inventory points" not in report


def test_partial_overlap_by_hand_with_every_output(tmp_path):
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                 write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)))
    s = result.scores
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (50, 50, 50, 1450)
    assert s["precision"] == s["recall"] == s["f1"] == 0.5
    assert s["iou"] == pytest.approx(1 / 3) and s["accuracy"] == pytest.approx(1500 / 1600)
    assert object_counts(result) == (1, 0, 0)

    objects = features(tmp_path / "objects.gpkg")
    reference = [o for o in objects if o["map"] == "reference"]
    assert len(reference) == 1 and reference[0]["status"] == "detected"
    assert reference[0]["covered_share"] == 0.5 and reference[0]["area_m2"] == pytest.approx(100, rel=1e-3)
    assert [o["status"] for o in objects if o["map"] == "prediction"] == ["true detection"]
    errors = sorted((e["error"], e["area_m2"]) for e in features(tmp_path / "errors.gpkg"))
    assert [e[0] for e in errors] == ["false negative", "false positive"]
    assert [e[1] for e in errors] == pytest.approx([50, 50], rel=1e-3)
    report = (tmp_path / "report.html").read_text()
    for text in ("0.5000", "0.3333", "<svg", ">1,450<", "prediction raster's grid", "EPSG:32648"):
        assert text in report
    assert not (tmp_path / "points.gpkg").exists()  # no inventory of points given


@pytest.mark.parametrize("min_coverage, detected", [(0.0, 1), (0.5, 1), (0.6, 0)])
def test_minimum_coverage_decides_detection(tmp_path, min_coverage, detected):
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                 write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)), min_coverage=min_coverage)
    assert object_counts(result, ("objects_detected", "objects_missed")) == (detected, 1 - detected)


def test_reference_polygons_in_another_crs_are_rasterized_onto_the_prediction_grid(tmp_path):
    reference = write_layer(tmp_path / "ref.gpkg", [pixel_box(*REFERENCE_SQUARE)], epsg=4326)
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)), reference)
    s = result.scores
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (50, 50, 50, 1450)
    assert "reprojected from EPSG:4326" in result.alignment
    assert features(tmp_path / "objects.gpkg")[0]["source_fid"] == 1


def test_polygons_against_polygons_in_different_crss(tmp_path):
    prediction = write_layer(tmp_path / "pred.gpkg", [pixel_box(*SHIFTED_SQUARE), pixel_box(30, 30, 2, 2)])
    reference = write_layer(tmp_path / "ref.gpkg", [pixel_box(*REFERENCE_SQUARE)], epsg=3857)
    result = run(tmp_path, prediction, reference, pixel_size=0.5)
    s = result.scores
    # at 0.5 m, each 1 m pixel is four scoring pixels
    assert (s["tp"], s["fp"], s["fn"]) == (200, 200 + 16, 200)
    assert object_counts(result, ("objects_detected", "false_alarm_objects")) == (1, 1)
    with pytest.raises(EvaluationError, match="pixel size") as raised:
        run(tmp_path / "again", prediction, reference)
    assert (raised.value.problem, raised.value.subject) == (scoring.PIXEL_SIZE_NEEDED, "pixel_size")


def test_reference_nodata_area_and_extent_are_not_scored(tmp_path):
    reference = square(*REFERENCE_SQUARE).astype(np.uint8)
    reference[:, 30:] = 255  # nodata: ten columns not scored
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                 write_raster(tmp_path / "r.tif", reference, nodata=255))
    s = result.scores
    assert s["tp"] + s["fp"] + s["fn"] + s["tn"] == SIZE * 30 and s["tp"] == 50

    # the area polygon keeps columns 0..11: TP 5 x 10 cols 10-11 = 20, FN 5..9 = 50, FP 0
    area = write_layer(tmp_path / "area.gpkg", [pixel_box(0, 0, SIZE, 12)])
    clipped = run(tmp_path / "area", write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                  write_raster(tmp_path / "r2.tif", square(*REFERENCE_SQUARE)),
                  area=LandslideMap(area))
    c = clipped.scores
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (20, 0, 50, SIZE * 12 - 70)

    # an extent in another CRS over rows 0..19, columns 0..19
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    extent = (ORIGIN_X, ORIGIN_Y - 20, ORIGIN_X + 20, ORIGIN_Y, srs.ExportToWkt())
    cropped = run(tmp_path / "extent", write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                  write_raster(tmp_path / "r2.tif", square(*REFERENCE_SQUARE)), extent=extent)
    k = cropped.scores
    assert k["tp"] + k["fp"] + k["fn"] + k["tn"] == 400 and (k["tp"], k["fp"], k["fn"]) == (50, 50, 50)
    with pytest.raises(EvaluationError, match="extent does not overlap") as raised:
        run(tmp_path / "outside", write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
            write_raster(tmp_path / "r2.tif", square(*REFERENCE_SQUARE)),
            extent=(0.0, 0.0, 10.0, 10.0, srs.ExportToWkt()))
    assert (raised.value.problem, raised.value.subject) == (scoring.EXTENT_OUTSIDE, "extent")


@pytest.mark.parametrize("tolerance, hits", [(0, 1), (3, 2), (4, 3)])
def test_inventory_points_hit_within_the_tolerance(tmp_path, tolerance, hits):
    # inside the detection; 3 px right of its edge (col 22); 4 px right (col 23); outside the raster
    points = write_layer(tmp_path / "points.gpkg", [point(8, 12), point(8, 22), point(8, 23), point(8, 60)],
                         geom_type=ogr.wkbPoint)
    result = run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)),
                 write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)), points=LandslideMap(points),
                 point_tolerance=tolerance)
    assert (result.points_hit, result.points_missed) == (hits, 3 - hits)
    statuses = [f["status"] for f in features(tmp_path / "points.gpkg")]
    assert statuses[3] == "not scored" and statuses.count("hit") == hits
    assert result.points_hit + result.points_missed == 3  # the point outside is not scored


def test_cancel_at_any_point_and_disjoint_maps_leave_nothing(tmp_path):
    prediction = write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE))
    reference = write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE))
    cancelled_at = []
    for stop_after in range(20):  # cancel at the 1st, 2nd, ... check, until the run outlives them all
        out = tmp_path / f"out{stop_after}"
        calls = []

        def is_cancelled():
            calls.append(1)
            return len(calls) > stop_after

        try:
            run(out, prediction, reference, progress=Progress(is_cancelled=is_cancelled))
        except Cancelled:
            cancelled_at.append(stop_after)
            assert not out.exists() or not any(out.iterdir()), f"cancelled at check {stop_after + 1}: files left"
        else:
            assert {p.name for p in out.iterdir()} == {"objects.gpkg", "errors.gpkg", "report.html"}
            break
    assert len(cancelled_at) >= 3  # scoring, polygonizing the errors, publishing

    far = write_layer(tmp_path / "far.gpkg", ["POLYGON((0 0,10 0,10 10,0 10,0 0))"])
    with pytest.raises(EvaluationError, match="do not overlap") as raised:
        run(tmp_path / "far", prediction, far)
    assert (raised.value.problem, raised.value.subject) == (scoring.NO_OVERLAP, "reference")
    assert not (tmp_path / "far").exists()


@pytest.mark.parametrize("stage, until", [("prediction", 0.2), ("reference", 0.4)])
def test_cancel_while_a_map_becomes_objects_stops_there_and_leaves_nothing(tmp_path, monkeypatch, stage, until):
    """The object rasters (a mask's strips and polygons, an inventory's polygons) are a
    long stage of their own on a large scene: a cancel during one stops it, before the
    scoring pass, and leaves neither an output nor the scratch folder."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    prediction = write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE))
    reference = write_layer(tmp_path / "r.gpkg", [pixel_box(*REFERENCE_SQUARE)])
    reported = []
    # cancelled from the start of the stage: the prediction's at once, the reference's once the prediction is done
    starts = 0.0 if stage == "prediction" else 0.2
    progress = Progress(report=reported.append, is_cancelled=lambda: max(reported, default=0.0) >= starts)
    with pytest.raises(Cancelled):
        run(tmp_path / "out", prediction, reference, progress=progress)
    assert max(reported, default=0.0) < until  # stopped in that map's stage, not at the scoring pass after it
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert list((tmp_path / "scratch").iterdir()) == []


def test_errors_carry_facts_and_no_dialog_wording(tmp_path):
    """Core says which input and what is wrong; the wording of the QGIS dialog (its
    parameter and output names, its menus) is the adapter's alone."""
    from landslide_mapper.algorithms import evaluate as adapter

    with pytest.raises(EvaluationError, match="no coordinate reference system") as raised:
        run(tmp_path, write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE), epsg=None),
            write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)))
    assert (raised.value.problem, raised.value.subject, raised.value.source) == (scoring.NO_CRS, "prediction", "p.tif")
    assert isinstance(raised.value, UserError)  # the one error type adapters handle, as Detect's input errors
    assert set(adapter.MESSAGES) == {scoring.NO_CRS, scoring.UNREADABLE, scoring.NO_SUCH_LAYER, scoring.NO_OVERLAP,
                                     scoring.NOTHING_SCORED, scoring.EXTENT_OUTSIDE, scoring.PIXEL_SIZE_NEEDED,
                                     scoring.NOT_A_MASK, scoring.SAME_MAP}
    room = Path(scoring.__file__).parent
    notation = {"TP", "FP", "FN", "TN", "F1"}  # the method's, which the report prints too
    dialog_words = {*adapter.NUMBERS, *adapter.SUBJECTS.values(), "OUTPUT_OBJECTS", "OUTPUT_REPORT", "MIN_COVERAGE",
                    "Layer Properties", "Processing", "qgis"} - notation
    for module in room.glob("*.py"):
        text = module.read_text()
        assert not [w for w in dialog_words if re.search(rf"\b{w}\b", text)], module.name


# --- through QGIS Processing ----------------------------------------------------------

def test_evaluate_algorithm_returns_the_scores(provider, tmp_path):
    import processing

    prediction = write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE))
    reference = write_layer(tmp_path / "ref.gpkg", [pixel_box(*REFERENCE_SQUARE)], epsg=4326)
    points = write_layer(tmp_path / "pts.gpkg", [point(8, 12), point(30, 30)], geom_type=ogr.wkbPoint)
    result = processing.run("landslidemapper:evaluate", {
        "PREDICTION": prediction, "REFERENCE": reference, "REFERENCE_POINTS": points,
        "OUTPUT_OBJECTS": str(tmp_path / "objects.gpkg"), "OUTPUT_ERRORS": str(tmp_path / "errors.gpkg"),
        "OUTPUT_POINTS": str(tmp_path / "points.gpkg"), "OUTPUT_REPORT": str(tmp_path / "report.html"),
    })
    assert result["F1"] == 0.5 and result["IOU"] == pytest.approx(1 / 3)
    assert (result["OBJECTS_DETECTED"], result["OBJECTS_MISSED"], result["FALSE_ALARMS"]) == (1, 0, 0)
    assert (result["POINTS_HIT"], result["POINTS_MISSED"]) == (1, 1)
    assert Path(result["OUTPUT_REPORT"]).read_text().count("0.5000") >= 3
    assert len(features(result["OUTPUT_ERRORS"])) == 2


def test_evaluate_algorithm_scores_detect_polygons_from_a_memory_layer(provider, tmp_path):
    """A polygon layer QGIS holds in memory (not a file) is scored too."""
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32648", "drawn", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt(pixel_box(*SHIFTED_SQUARE)))
    layer.dataProvider().addFeatures([feature])
    result = processing.run("landslidemapper:evaluate", {
        "PREDICTION": layer, "REFERENCE": write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE)),
        "OUTPUT_OBJECTS": str(tmp_path / "objects.gpkg"), "OUTPUT_ERRORS": str(tmp_path / "errors.gpkg"),
        "OUTPUT_REPORT": str(tmp_path / "report.html"),
    })
    assert (result["TP"], result["FP"], result["FN"]) == (50, 50, 50)
    assert result.get("POINTS_HIT") is None and result.get("POINTS_MISSED") is None  # no points given


def test_evaluate_algorithm_bad_input_message(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    far = write_layer(tmp_path / "far.gpkg", ["POLYGON((0 0,10 0,10 10,0 10,0 0))"])
    with pytest.raises(QgsProcessingException, match=r"'Reference inventory .*' \(REFERENCE\) does not overlap"):
        processing.run("landslidemapper:evaluate", {
            "PREDICTION": write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE)), "REFERENCE": far,
            "OUTPUT_REPORT": str(tmp_path / "report.html"),
        })
    assert not (tmp_path / "report.html").exists()
    with pytest.raises(QgsProcessingException, match=r"give 'Pixel size when both maps are polygons .*' \(PIXEL_SIZE\)"):
        processing.run("landslidemapper:evaluate", {
            "PREDICTION": write_layer(tmp_path / "pred.gpkg", [pixel_box(*SHIFTED_SQUARE)]), "REFERENCE": far,
            "OUTPUT_REPORT": str(tmp_path / "report.html"),
        })
    with pytest.raises(QgsProcessingException, match=r"\(PREDICTION\) has no coordinate reference system \('p0.tif'\)"
                                                     r": assign one first \(Layer Properties > Source\)"):
        processing.run("landslidemapper:evaluate", {
            "PREDICTION": write_raster(tmp_path / "p0.tif", square(*SHIFTED_SQUARE), epsg=None), "REFERENCE": far,
            "OUTPUT_REPORT": str(tmp_path / "report.html"),
        })


@pytest.mark.slow
def test_evaluate_headless_json(tmp_path):
    from headless import qgis_process, start_profile

    env = start_profile(tmp_path / "home")
    prediction = write_raster(tmp_path / "p.tif", square(*SHIFTED_SQUARE))
    reference = write_raster(tmp_path / "r.tif", square(*REFERENCE_SQUARE))
    proc = qgis_process(env, "--json", "run", "landslidemapper:evaluate", "--", f"PREDICTION={prediction}",
                        f"REFERENCE={reference}", f"OUTPUT_REPORT={tmp_path / 'report.html'}",
                        f"OUTPUT_ERRORS={tmp_path / 'errors.gpkg'}", f"OUTPUT_OBJECTS={tmp_path / 'objects.gpkg'}")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    assert results["PRECISION"] == 0.5 and results["OBJECTS_DETECTED"] == 1 and results["TN"] == 1450
    assert Path(results["OUTPUT_REPORT"]).exists()


def _mapped_scene(tmp_path):
    """A reference of two landslides; a map that finds one, misses the other and draws a
    false alarm; and the probability it was thresholded from at 0.5."""
    reference = square(*REFERENCE_SQUARE) | square(25, 25, 8, 8)
    probability = np.full((SIZE, SIZE), 0.1, np.float32)
    probability[5:15, 5:15] = 0.9  # the found landslide
    probability[30:34, 2:8] = 0.7  # a false alarm
    probability[25:33, 25:33] = 0.4  # the missed landslide, under the threshold
    return (write_raster(tmp_path / "p.tif", (probability >= 0.5).astype(np.uint8)),
            write_raster(tmp_path / "r.tif", reference), write_raster(tmp_path / "prob.tif", probability))


def test_report_maps_the_errors_lists_the_largest_and_draws_the_curve_only_with_probabilities(tmp_path):
    prediction, reference, probability = _mapped_scene(tmp_path)
    result = run(tmp_path, prediction, reference, probability=probability, threshold=0.5)
    assert object_counts(result) == (1, 1, 1)
    report = (tmp_path / "report.html").read_text()
    assert 'alt="Overview map of the scored area" src="data:image/png;base64,' in report
    missed = report[report.index("Largest missed landslides"):report.index("Largest false alarms")]
    assert ">64<" in missed  # the 8 x 8 m landslide that was missed, its area in m²
    false_alarms = report[report.index("Largest false alarms"):]
    assert ">24<" in false_alarms and ">0.700<" in false_alarms  # 6 x 4 m, mean probability 0.7
    assert "Across thresholds" in report and "At the chosen threshold 0.5" in report
    # just over the background's 0.1, the missed landslide (0.4) is found too: F1 2*164/(2*164+24)
    assert "The best F1 here, 0.932, is at 0.105" in report, report[-600:]
    plain = tmp_path / "plain"
    plain.mkdir()
    run(plain, prediction, reference)
    text = (plain / "report.html").read_text()
    assert "Across thresholds" not in text and "mean probability" not in text and "Overview map" in text


def test_report_renders_in_a_real_browser(tmp_path):
    """The report opened in headless Chromium: a screenshot (kept as a test artifact) that
    shows the page, pictures included, not a blank or broken one."""
    import shutil
    import subprocess

    from osgeo import gdal

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is installed by scripts/setup.sh"
    prediction, reference, probability = _mapped_scene(tmp_path)
    run(tmp_path, prediction, reference, probability=probability, threshold=0.5)
    artifacts = ARTIFACTS
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "evaluation_report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,2600",
                    f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = gdal.Open(str(shot)).ReadAsArray()
    assert pixels.shape[1:] == (2600, 1000)
    # far more than text on white: the map, the matrix and the curve are drawn
    coloured = (pixels[:3].max(axis=0).astype(int) - pixels[:3].min(axis=0)) > 60
    assert coloured.mean() > 0.02, coloured.mean()


def test_evaluate_refuses_an_image_and_a_map_scored_against_itself(provider, tmp_path):
    """An RGB image as the map (every pixel > 0 is 'landslide') scored F1 1.000 against
    itself; now each mistake is named in the dialog's terms and nothing is written."""
    import processing
    from qgis.core import QgsProcessingException

    image = write_raster(tmp_path / "rgb.tif", np.stack([square(*SHIFTED_SQUARE) * 200] * 3))
    mask = write_raster(tmp_path / "mask.tif", square(*SHIFTED_SQUARE))
    with pytest.raises(QgsProcessingException, match=r"'Landslide map .*' \(PREDICTION\) \('rgb.tif'\) is an image "
                                                     r"with 3 bands: it expects a landslide mask"):
        processing.run("landslidemapper:evaluate", {"PREDICTION": image, "REFERENCE": mask,
                                                    "OUTPUT_REPORT": str(tmp_path / "report.html")})
    with pytest.raises(QgsProcessingException, match=r"\(REFERENCE\) \('rgb.tif'\) is an image with 3 bands"):
        processing.run("landslidemapper:evaluate", {"PREDICTION": mask, "REFERENCE": image,
                                                    "OUTPUT_REPORT": str(tmp_path / "report.html")})
    with pytest.raises(QgsProcessingException, match="are the same layer"):
        processing.run("landslidemapper:evaluate", {"PREDICTION": mask, "REFERENCE": mask,
                                                    "OUTPUT_REPORT": str(tmp_path / "report.html")})
    assert not (tmp_path / "report.html").exists()


def test_report_reads_the_threshold_detect_recorded_and_leaves_pyplot_alone(tmp_path):
    """The report's curve marks the threshold the map was cut at (Detect writes it into its
    rasters) instead of 0.5; and drawing it neither switches matplotlib's backend nor
    closes a figure the host program (QGIS's Python) has open."""
    import matplotlib.pyplot as plt
    from landslide_mapper.core.io.outputs import THRESHOLD_METADATA
    from osgeo import gdal

    prediction, reference, probability = _mapped_scene(tmp_path)
    gdal.Open(probability, gdal.GA_Update).SetMetadataItem(THRESHOLD_METADATA, "0.65")
    backend, figure = plt.get_backend(), plt.figure()
    try:
        run(tmp_path, prediction, reference, probability=probability)
        assert "At the chosen threshold 0.65" in (tmp_path / "report.html").read_text()
        assert plt.get_backend() == backend and plt.fignum_exists(figure.number)
    finally:
        plt.close(figure)
