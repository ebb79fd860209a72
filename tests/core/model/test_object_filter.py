"""The false-alarm filter for detected objects: features, fitting, and Detect applying it."""

import math

import numpy as np
import pytest
from model_factory import area_filter, build_model, default_spec
from osgeo import ogr
from rasters import read_raster

ALG = "landslidemapper:detect"


def run(params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(ALG, params, context=QgsProcessingContext(), feedback=QgsProcessingFeedback())


def features_of(path):
    dataset = ogr.Open(path)
    layer = dataset.GetLayer()
    return [{layer.GetLayerDefn().GetFieldDefn(i).GetName(): f.GetField(i)
             for i in range(layer.GetLayerDefn().GetFieldCount())} for f in layer]


def test_perimeter_counts_outer_and_inner_rings_as_polygons_do():
    from landslide_mapper.core.evaluation.filter_fitting import image_objects

    probability = np.zeros((7, 7), np.float32)
    probability[1:4, 1:4] = 0.9
    probability[2, 2] = 0.1  # a hole: 8 pixels, 12 outer + 4 inner edges
    probability[5, 5] = 0.8  # one pixel: 4 edges
    objects = image_objects(probability, np.zeros((7, 7), bool), 0.5, pixel_size_m=2.0)
    by_area = sorted(objects.features.tolist())
    single, ring = by_area
    assert single[0] == pytest.approx(math.log10(4.0)) and ring[0] == pytest.approx(math.log10(32.0))
    assert ring[3] == pytest.approx(4 * math.pi * 32.0 / (16 * 2.0) ** 2)  # compactness from the 16 edges
    assert ring[1] == pytest.approx(0.9) and single[2] == pytest.approx(0.8)


def test_features_from_a_raster_equal_those_of_detects_polygons(provider, scene, bright_model, tmp_path):
    """One feature definition: objects measured on the probability raster (as when fitting
    and benchmarking) have exactly the features of the polygons Detect writes."""
    from landslide_mapper.core.evaluation.filter_fitting import image_objects
    from landslide_mapper.core.model.object_filter import feature_vector

    out = tmp_path / "o"
    out.mkdir()
    # pixel outlines: what the filter judges (smoothed ones are drawn and measured for the mapper)
    result = run({"INPUT": scene["image"], "MODEL_FILE": bright_model, "MIN_AREA": 20, "SMOOTH_OUTLINES": False,
                  "OUTPUT_PROBABILITY": str(out / "p.tif"), "OUTPUT_MASK": str(out / "m.tif"),
                  "OUTPUT_POLYGONS": str(out / "l.gpkg")})
    probability = read_raster(result["OUTPUT_PROBABILITY"])[0]
    objects = image_objects(probability, np.zeros(probability.shape, bool), 0.5, pixel_size_m=1.0, min_area_m2=20)
    polygons = features_of(result["OUTPUT_POLYGONS"])
    assert len(polygons) == len(objects.sizes) >= 5
    from_polygons = sorted(feature_vector(p["area_m2"], p["perimeter_m"], p["mean_prob"], p["max_prob"]).tolist()
                           for p in polygons)
    from_raster = sorted(objects.features.tolist())
    # areas and perimeters are measured in an equal-area projection by Detect: a hair off the grid's
    np.testing.assert_allclose(np.array(from_polygons), np.array(from_raster), rtol=2e-3, atol=1e-4)


def test_detect_sets_aside_what_the_filter_scores_low_and_keeps_everything_when_off(provider, scene, tmp_path):
    spec = default_spec(object_filter=area_filter(400.0))
    model = build_model(tmp_path / "filtered.onnx", spec, brightness_band=3)

    def detect(folder, **extra):
        folder.mkdir()
        return run({"INPUT": scene["image"], "MODEL_FILE": model, "MIN_AREA": 20,
                    "OUTPUT_PROBABILITY": str(folder / "p.tif"), "OUTPUT_MASK": str(folder / "m.tif"),
                    "OUTPUT_POLYGONS": str(folder / "l.gpkg"), **extra})

    filtered = detect(tmp_path / "on", OUTPUT_DROPPED=str(tmp_path / "on" / "dropped.gpkg"))
    kept, dropped = features_of(filtered["OUTPUT_POLYGONS"]), features_of(filtered["OUTPUT_DROPPED"])
    everything = features_of(detect(tmp_path / "off", OBJECT_FILTER=False)["OUTPUT_POLYGONS"])
    assert kept and dropped, "the scene should have polygons on both sides of 400 m²"
    assert all(p["area_m2"] >= 400 and p["filter_score"] >= 0.5 for p in kept)
    assert all(p["area_m2"] < 400 and p["filter_score"] < 0.5 for p in dropped)
    # nothing is lost: set-aside + kept = every polygon of the unfiltered run
    assert sorted(p["area_m2"] for p in kept + dropped) == sorted(p["area_m2"] for p in everything)
    assert "filter_score" not in everything[0]
    # headless, without OUTPUT_DROPPED: the set-aside polygons go beside the polygons, and are reported
    unasked = detect(tmp_path / "unasked")
    assert unasked["OUTPUT_DROPPED"] == str(tmp_path / "unasked" / "l_set_aside.gpkg")
    assert sorted(p["area_m2"] for p in features_of(unasked["OUTPUT_DROPPED"])) == sorted(p["area_m2"] for p in dropped)
    # the rasters do not change with the filter
    np.testing.assert_array_equal(read_raster(filtered["OUTPUT_MASK"])[0], read_raster(str(tmp_path / "off" / "m.tif"))[0])


def test_a_malformed_filter_is_named():
    """A spec whose object_filter is malformed is refused when the model is read, naming it."""
    from landslide_mapper.core.model.spec import ModelSpec, SpecError

    broken = area_filter(100.0)
    del broken["cut"]
    with pytest.raises(SpecError, match="m.onnx has an invalid .*object_filter"):
        ModelSpec.from_dict(default_spec(object_filter=broken), "m.onnx")
    broken = {**area_filter(100.0), "weights": [1.0]}
    with pytest.raises(SpecError, match="object_filter mean, std and weights"):
        ModelSpec.from_dict(default_spec(object_filter=broken), "m.onnx")
    assert ModelSpec.from_dict(default_spec(), "m.onnx").object_filter is None


def test_fitting_separates_false_alarms_and_keeps_the_landslides():
    """Objects like those the models draw: true ones large and confident, false alarms
    small or weak. The fitted cut drops most false alarms and no landslide."""
    from landslide_mapper.core.evaluation.filter_fitting import fit_object_filter, image_objects

    rng = np.random.default_rng(0)
    images = []
    for i in range(30):
        probability = np.zeros((96, 96), np.float32)
        reference = np.zeros((96, 96), bool)
        if i % 2 == 0:  # a landslide, found by a big confident object
            top, left = rng.integers(5, 30, 2)
            reference[top : top + 30, left : left + 25] = True
            probability[top : top + 28, left : left + 25] = rng.uniform(0.8, 1.0)
        for left in (10, 60):  # weak small false alarms, apart from the landslide and each other
            top = rng.integers(66, 88)
            probability[top : top + 6, left : left + rng.integers(3, 6)] = rng.uniform(0.5, 0.65)
        images.append(image_objects(probability, reference, 0.5, 1.0))
    fitted, report = fit_object_filter(images)
    before, after = report["without_filter"], report["with_filter"]
    assert before["false_alarm_objects"] == 60 and before["objects_detected"] == 15
    assert after["objects_detected"] == 15 and after["false_alarm_objects"] < 10
    assert after["f1"] > before["f1"] and after["landslide_free_images_with_detections"] < 15
    assert 0 < fitted.cut < 1


def test_detect_default_scores_by_hand():
    """What Detect gives, scored by the one scorer: the kept polygons are the map. An image
    with landslides A (4 px) and B (6 px) and objects P1 (touching A), P2 (touching nothing)
    and P3 (1 px, under the minimum area); a landslide-free image with one 2-px object."""
    from landslide_mapper.core.evaluation.filter_fitting import filtered_scores, image_objects

    def drawn(*rows):
        return np.array([[c == "#" for c in row] for row in rows])

    reference = drawn("##......", "##......", "........", "........", ".....###", ".....###")
    predicted = drawn("........", ".##.....", "........", "...##...", "........", ".......#")
    free = np.zeros(reference.shape, bool)
    flagged = drawn("##......", *["........"] * 5)
    images = [image_objects(0.9 * p.astype(np.float32), r, 0.5, 1.0, min_area_m2=1.5)
              for p, r in ((predicted, reference), (flagged, free))]
    assert [len(o.sizes) for o in images] == [2, 1]  # P3 (1 m²) is not drawn

    every = filtered_scores(images, [np.array([True, True]), np.array([True])])
    assert list(every) == ["precision", "recall", "f1", "iou", "precision_landslide_images", "recall_landslide_images",
                           "f1_landslide_images", "iou_landslide_images", "objects_detected", "objects_missed",
                           "false_alarm_objects", "landslide_free_images", "landslide_free_images_with_detections"]
    # TP 1, FP 3 + 2, FN 9; on the image with landslides FP 3
    assert list(every.values()) == [0.1667, 0.1, 0.125, 0.0667, 0.25, 0.1, 0.1429, 0.0769, 1, 1, 2, 1, 1]
    # the filter sets P2 and the landslide-free image's object aside: TP 1, FP 1, FN 9 everywhere
    kept = filtered_scores(images, [np.array([True, False]), np.array([False])])
    assert list(kept.values()) == [0.5, 0.1, 0.1667, 0.0909, 0.5, 0.1, 0.1667, 0.0909, 1, 1, 0, 1, 0]


def test_fitting_counts_objects_as_the_one_scorer_does():
    """Objects are counted once: an image's outcome for any kept objects, from each object's
    sums, is the scorer's outcome of the map those objects draw."""
    from landslide_mapper.core.evaluation.filter_fitting import image_objects
    from landslide_mapper.core.evaluation.metrics import ObjectTally, label_objects

    rng = np.random.default_rng(1)
    for i in range(12):
        reference = rng.random((40, 50)) > (0.6 if i % 4 else 1.0)  # every fourth image is landslide-free
        probability = rng.random((40, 50)).astype(np.float32)
        objects = image_objects(probability, reference, 0.55, 1.0)
        labels, count = label_objects(probability >= 0.55)
        assert len(objects.sizes) == count  # no minimum area: object i is label i + 1
        for share in (0.0, 0.4, 1.0):
            kept = rng.random(count) < share
            drawn = np.isin(labels, np.flatnonzero(kept) + 1)
            assert objects.outcome(kept) == ObjectTally.of_masks(drawn, reference).outcome()
