"""training/: architectures, losses, patches, augmentation, the train loop and ONNX export.

Runs real TensorFlow on tiny models (4 base filters) and real data from ../shared/data.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from locations import ROOT
from locations import SHARED_DATA as SHARED
from osgeo import ogr, osr

tf = pytest.importorskip("tensorflow")

from landslide_mapper.core.imagery.bands import build_stack  # noqa: E402
from landslide_mapper.core.imagery.inputs import ModelInput  # noqa: E402
from landslide_mapper.core.io.readers import GdalReader  # noqa: E402
from landslide_mapper.core.model.spec import ModelSpec  # noqa: E402
from landslide_mapper.training import augment as aug  # noqa: E402
from landslide_mapper.training.architectures import ARCHITECTURES, build_model  # noqa: E402
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
from landslide_mapper.training.losses import CombinedTverskyLoss, ThresholdedScore, tversky_index  # noqa: E402

pytestmark = pytest.mark.slow
needs_data = pytest.mark.skipif(not (SHARED / "bijie" / "index.csv").exists(), reason="../shared/data not present")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_is_fully_convolutional_for_any_band_count(architecture):
    model = build_model(architecture, bands=5, base_filters=4)
    for size in (32, 48):
        out = model(np.zeros((2, size, size, 5), np.float32), training=False)
        assert out.shape == (2, size, size, 1)
    assert model.layers[-1].activation.__name__ == "sigmoid"


def test_attention_sits_where_the_method_puts_it():
    def count(model, suffix):
        return sum(layer.name.endswith(suffix) for layer in model.layers)

    spatial = build_model("spatial", 4, 4)
    assert count(spatial, "_gate") == 8  # after each of 4 max-pools and 4 up-samplings
    assert sum(layer.name.startswith("enc_att") and layer.name.endswith("_gate") for layer in spatial.layers) == 4
    for arch in ("channel", "se"):
        model = build_model(arch, 4, 4)
        assert count(model, "_scale") == 5  # last encoder conv + 4 decoder skips
    assert count(build_model("unet", 4, 4), "_scale") == count(build_model("unet", 4, 4), "_gate") == 0


def test_tversky_index_and_combined_loss_by_hand():
    y = np.array([1, 1, 0, 0], np.float32)
    p = np.array([1.0, 0.5, 0.5, 0.0], np.float32)
    tp, fn, fp = 1.5, 0.5, 0.5
    ti = (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1)
    assert float(tversky_index(y, p)) == pytest.approx(ti, rel=1e-6)
    loss = float(CombinedTverskyLoss()(y[None], p[None]))
    assert loss == pytest.approx((1 - ti) + (1 - ti) ** 0.75, rel=1e-5)


def test_thresholded_scores_by_hand():
    y = np.array([[1, 1, 1, 0, 0, 0, 0, 0]], np.float32)
    p = np.array([[0.9, 0.6, 0.2, 0.7, 0.1, 0.1, 0.1, 0.1]], np.float32)  # TP 2, FN 1, FP 1, TN 4
    expected = {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "iou": 0.5, "accuracy": 6 / 8}
    for score, value in expected.items():
        metric = ThresholdedScore(score)
        metric.update_state(y, p)
        assert float(metric.result()) == pytest.approx(value, abs=1e-5), score


def test_validation_scores_by_hand():
    """What the campaign validates with and the model card's raw test scores (the one
    scorer, image by image). Image 1: landslides R1 (2 px) and R2 (1 px, at 0.3), a false
    alarm at 0.6; image 2, landslide-free, one pixel at 0.55."""
    from landslide_mapper.training.evaluate import best_threshold_of, score_probabilities

    first, second = np.zeros((4, 6), np.float32), np.zeros((4, 6), np.float32)
    first[0, 0], first[0, 1], first[2, 2], first[3, 5] = 0.9, 0.4, 0.6, 0.3
    second[1, 1] = 0.55
    mask = np.zeros((4, 6), np.uint8)
    mask[0, :2] = mask[3, 5] = 1
    masks = [mask, np.zeros((4, 6), np.uint8)]
    scores = score_probabilities([first, second], masks, [0.35, 0.5, 0.7])
    keys = ["precision", "recall", "f1", "iou", "accuracy", "tp", "fp", "fn", "tn", "objects_detected",
            "objects_missed", "false_alarm_objects", "images", "landslide_free_images",
            "landslide_free_images_with_detections", "threshold", "overlap", "window"]  # the campaign log's columns
    assert all(list(s) == keys for s in scores.values())
    values = {t: [s[k] for k in keys[:15]] for t, s in scores.items()}
    assert values[0.35] == [0.5, 0.6667, 0.5714, 0.4, 0.9375, 2, 2, 1, 43, 1, 1, 2, 2, 1, 1]
    assert values[0.5] == [0.3333, 0.3333, 0.3333, 0.2, 0.9167, 1, 2, 2, 43, 1, 1, 2, 2, 1, 1]
    assert values[0.7] == [1.0, 0.3333, 0.5, 0.3333, 0.9583, 1, 0, 2, 45, 1, 1, 0, 2, 1, 0]
    assert best_threshold_of([first, second], masks, (0.35, 0.5, 0.7)) == (0.35, scores[0.35])


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
    train, val, test = bijie_split(SHARED / "bijie")
    assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
    stored = json.loads((ROOT / "training" / "splits" / "bijie_test.json").read_text())["test_ids"]
    assert sorted(test) == sorted(stored)
    assert 0.25 < len(val) / (len(train) + len(val)) < 0.35
    assert any(i.startswith("nls_") for i in test) and any(i.startswith("ls_") for i in test)


@needs_data
def test_bijie_reader_reads_native_resolution_rgb_and_binary_masks():
    samples = {s.id: s for s in read_bijie(SHARED / "bijie", ["ls_0000", "ls_0001"])}
    assert samples["ls_0000"].mask.shape == (94, 121)  # index.csv: width 121, height 94
    assert set(np.unique(samples["ls_0001"].mask)) <= {0, 1} and samples["ls_0001"].mask.any()
    assert samples["ls_0000"].sources["red"].max() <= 255


@needs_data
def test_landslide4sense_bands_and_slope():
    samples = read_landslide4sense(SHARED / "landslide4sense")
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


def test_augmentation_moves_mask_and_bands_together():
    mask = np.zeros((128, 128), np.uint8)
    mask[20:60, 30:50] = 1
    for seed in range(30):
        sources = {"red": mask * 200.0 + 20.0, "slope": mask.astype(np.float32) * 30.0}
        out, out_mask = aug.augment(sources, mask, np.random.default_rng(seed))
        # slope is never blurred: geometric changes alone, so it still matches the mask
        disagreement = np.mean((out["slope"] > 15) != (out_mask == 1))
        assert disagreement < 0.01, seed
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1}


def test_field_augmentation_keeps_mask_and_slope_together_and_varies_what_a_sensor_changes():
    mask = np.zeros((128, 128), np.uint8)
    mask[40:80, 30:70] = 1
    scales, colours, collars = [], [], 0
    for seed in range(60):
        texture = np.random.default_rng(100 + seed).uniform(0, 20, mask.shape)
        sources = {"red": mask * 150.0 + 60.0, "green": mask * 150.0 + 50.0 + texture,
                   "slope": mask.astype(np.float32) * 30.0}
        out, out_mask = aug.field_jitter({k: v.copy() for k, v in sources.items()}, mask.copy(),
                                         np.random.default_rng(seed))
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1}
        # a collar: a border strip repeats the pixels next to it, and holds no landslide
        strips = (out["green"][:12], out["green"][-12:], out["green"][:, :12].T, out["green"][:, -12:].T)
        if any(np.ptp(strip, axis=0).max() == 0 for strip in strips) and np.ptp(out["green"]) > 0:
            collars += 1
            continue
        assert np.mean((out["slope"] > 15) != (out_mask == 1)) < 0.02, seed  # geometry moves both alike
        scales.append(out_mask.sum() / mask.sum())
        colours.append(out["red"][out_mask == 0].mean())
    assert min(scales) < 0.6 and max(scales) > 1.6  # the landslide's area follows the zoom (0.6-1.5x per side)
    assert np.ptp(colours) > 20  # the background's tone moves
    assert 2 <= collars <= 25


def test_train_resume_and_export(tmp_path):
    """A tiny model trains, stops, resumes, and exports to ONNX graphs that match TF."""
    from landslide_mapper.training.export import export_run, tf_saliency
    from landslide_mapper.training.train import TrainConfig, train

    rng = np.random.default_rng(1)
    samples = []
    for i in range(6):
        red = rng.uniform(40, 90, (128, 128)).astype(np.float32)
        mask = np.zeros((128, 128), np.uint8)
        mask[rng.integers(10, 60):, :][:30, 40:80] = 1
        red[mask == 1] = 220
        samples.append(Sample(f"s{i}", {"red": red, "green": red * 0.9, "blue": red * 0.8}, mask))
    patches = make_patchset(samples, 0.0)
    config = TrainConfig(architecture="spatial", epochs=2, batch_size=4, base_filters=4, learning_rate=1e-3)
    run = tmp_path / "run"
    train(patches, patches, run, config, verbose=0)
    assert {"best.keras", "last.keras", "spec.json", "log.csv", "curves.png", "state.json"} <= {
        p.name for p in run.iterdir()}
    config.epochs = 3
    state = train(patches, patches, run, config, resume=True, verbose=0)
    assert state["epoch"] == 3
    assert len((run / "log.csv").read_text().strip().splitlines()) == 4  # header + 3 epochs

    out = tmp_path / "models" / "tiny.onnx"
    written = export_run(run, out, check_patches=2)
    prediction, saliency = written[:2]
    assert {p.name for p in written} == {"tiny.onnx", "tiny_saliency.onnx", "tiny.md", "tiny_curves.png"}
    assert "held-out" not in (out.with_suffix(".md")).read_text()  # no test data given: no test scores claimed
    from landslide_mapper.core.model.onnx_model import OnnxModel

    spec = OnnxModel(prediction).spec.to_dict()
    assert spec["metrics"]["epochs_trained"] == 3 and "f1" in spec["metrics"]["validation"]
    assert "CPU core" in spec["metrics"]["hardware"] or "GPU" in spec["metrics"]["hardware"]  # recorded by train()
    assert "resolution_m" not in spec and "input_percentiles" not in spec  # no dataset: nothing calibrated
    assert spec["saliency_model"] == "tiny_saliency.onnx" and spec["export_check"]["prediction_max_abs_diff"] <= 1e-4
    assert spec["architecture"] == "spatial_attention_unet" and spec["bands"][:3] == ["red", "green", "blue"]

    # the saliency graph is the gradient of the window's mean prediction: check it
    # against central finite differences of the exported prediction graph itself
    import onnxruntime as ort

    pred = ort.InferenceSession(str(prediction))
    sal = ort.InferenceSession(str(saliency))
    x = rng.normal(size=(1, 128, 128, 4)).astype(np.float32)
    s = sal.run(None, {sal.get_inputs()[0].name: x})[0][0]
    assert s.shape == (128, 128)
    import keras

    keras_model = keras.models.load_model(run / "best.keras", compile=False)
    np.testing.assert_allclose(s, tf_saliency(keras_model, x)[0], atol=0.01 * s.max())
    for (r, c) in [(64, 64), (10, 100), (127, 0)]:
        grads = []
        for band in range(4):
            h = 1e-2
            plus, minus = x.copy(), x.copy()
            plus[0, r, c, band] += h
            minus[0, r, c, band] -= h
            fp = pred.run(None, {pred.get_inputs()[0].name: plus})[0].astype(np.float64).mean()
            fm = pred.run(None, {pred.get_inputs()[0].name: minus})[0].astype(np.float64).mean()
            grads.append(abs(fp - fm) / (2 * h))
        assert s[r, c] == pytest.approx(np.mean(grads), rel=0.05, abs=1e-9)


def _stored_weights(proto) -> int:
    return int(sum(np.prod(i.dims) for i in proto.graph.initializer))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_exports_both_graphs_matching_tensorflow(architecture):
    """Both graphs of each of the four U-Nets convert (channel attention needs the
    BiasAddGrad handler) and match TensorFlow; the saliency graph stores its weights once,
    so it holds the prediction graph's weights plus one window-sized constant (the
    derivative of the window mean, 1/128² per pixel) and a few per-channel scales."""
    from landslide_mapper.training.export import (
        check_prediction,
        check_saliency,
        prediction_onnx,
        saliency_onnx,
        share_weights,
    )

    model = build_model(architecture, bands=4, base_filters=4)
    batch = np.random.default_rng(3).normal(size=(2, 128, 128, 4)).astype(np.float32)
    prediction = prediction_onnx(model, 4)
    assert check_prediction(model, prediction, batch) <= 1e-4
    saliency = saliency_onnx(model, 4, 128)
    unshared = _stored_weights(saliency)
    shared = share_weights(saliency)
    bulk, _ = check_saliency(model, shared, batch)  # raises past 1 % of the peak
    assert bulk < 0.01
    assert _stored_weights(shared) <= _stored_weights(prediction) + 128 * 128 + 1024 < unshared


def test_cli_trains_on_a_raster_inventory_with_a_dem(tmp_path, scene):
    """`python -m training train --image --polygons --dem` end to end, on the generated
    scene and its own truth polygonized as the inventory: a slope model comes out."""
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    run = tmp_path / "run"
    main(["train", "--image", scene["image"], "--polygons", inventory, "--dem", scene["dem"],
          "--bands", "red,green,blue,brightness,slope", "--arch", "se", "--out", str(run), "--epochs", "1",
          "--base-filters", "4", "--batch-size", "8", "--quiet"])
    spec = json.loads((run / "spec.json").read_text())
    assert spec["bands"] == ["red", "green", "blue", "brightness", "slope"]
    assert spec["architecture"] == "squeeze_excitation_unet"
    assert spec["training"]["dataset"] == {
        "name": "raster_inventory", "image": scene["image"], "polygons": inventory, "dem": scene["dem"],
        "band_numbers": {"red": 1, "green": 2, "blue": 3}, "negative_share": 0.2, "val_share": 0.3}
    assert 5 < spec["normalization"]["mean"][4] < 60  # slope in degrees on the scene's hills
    assert (run / "best.keras").exists()


def test_cli_trains_on_a_patch_folder_from_processing(provider, tmp_path, scene):
    """'Create training patches' in QGIS, then `python -m training train --patches`."""
    import processing
    from landslide_mapper.core.io.polygons import polygonize_mask
    from landslide_mapper.training.cli import main

    inventory = str(tmp_path / "inventory.gpkg")
    polygonize_mask(scene["truth"], scene["truth"], inventory, value_name="truth")
    folder = processing.run("landslidemapper:make_patches", {
        "INPUT": scene["image"], "POLYGONS": inventory, "OUTPUT_FOLDER": str(tmp_path / "patches")})["OUTPUT_FOLDER"]
    run = tmp_path / "run"
    main(["train", "--patches", folder, "--arch", "unet", "--out", str(run), "--epochs", "1",
          "--base-filters", "4", "--batch-size", "8", "--quiet"])
    spec = json.loads((run / "spec.json").read_text())
    assert spec["bands"] == ["red", "green", "blue", "brightness"] and spec["architecture"] == "unet"
    assert spec["training"]["dataset"]["folder"] == folder and spec["training"]["train_patches"] > 0
    assert (run / "best.keras").exists()


@needs_data
def test_cli_trains_a_slope_model_on_landslide4sense(tmp_path):
    """The slope path end to end on real data: Landslide4Sense's slope band in, a slope
    model out, exported and run by the engine."""
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.export import export_run

    run = tmp_path / "run"
    main(["train", "--data", str(SHARED / "landslide4sense"), "--bands", "red,green,blue,brightness,slope",
          "--arch", "spatial", "--out", str(run), "--epochs", "1", "--base-filters", "4", "--batch-size", "4",
          "--quiet"])
    model = OnnxModel(export_run(run, tmp_path / "l4s.onnx", check_patches=2)[0])
    assert model.spec.bands[-1] == "slope" and model.spec.extra["training"]["dataset"]["name"] == "landslide4sense"
    assert model.predict(np.zeros((1, 5, 128, 128), np.float32)).shape == (1, 128, 128)


def _blob_samples(count: int, seed: int, landslides: bool = True) -> list:
    """Images with one bright scar each (or none): what the crop sampler draws from."""
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


def test_crop_sampler_centres_on_landslides_and_mines_hard_negatives():
    from landslide_mapper.training.sampler import CropMix, CropSampler

    samples = _blob_samples(6, 0) + _blob_samples(6, 1, landslides=False)
    sampler = CropSampler(samples, CropMix(positive_share=1.0, jitter=0), seed=0, augment_crops=False)
    sources, masks, images = sampler.draw(40)
    assert masks.shape == (40, 128, 128) and all(m.any() for m in masks)  # every crop holds its scar
    assert set(images.tolist()) <= set(range(6))
    # background crops: an image the model keeps marking wrongly is drawn far more often
    sampler = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=1.0), seed=0, augment_crops=False)
    sampler.record(np.array([8] * 5), np.array([0.9] * 5))
    _, _, images = sampler.draw(200)
    assert np.mean(images == 8) > 0.4 and sampler.false_alarm_scores[8] > 0.7  # uniform: 1 in 12
    # the random stream and the scores come back with the checkpoint: the same draws follow
    state = json.loads(json.dumps(sampler.state()))
    expected = sampler.draw(5)
    restored = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=1.0), seed=99, augment_crops=False)
    restored.load_state(state)
    again = restored.draw(5)
    np.testing.assert_array_equal(expected[1], again[1])
    np.testing.assert_array_equal(expected[2], again[2])


def test_mosaic_context_surrounds_an_image_with_other_training_images():
    """A 256-px crop of a small image holds the image once, other images (with their own
    labels) around it, and no mirror of it; landslides are found away from the centre."""
    from landslide_mapper.training.sampler import CropMix, CropSampler

    samples = _blob_samples(8, 6)
    for k, sample in enumerate(samples):  # each image a constant of its own, so every crop pixel says its source
        sample.sources["green"] = np.full(sample.mask.shape, float(k), np.float32)
    sampler = CropSampler(samples, CropMix(positive_share=1.0, context="mosaic"), seed=0, size=256,
                          augment_crops=False)
    sources, masks, images = sampler.draw(60)
    centres = []
    for green, mask, index in zip([s["green"] for s in sources], masks, images):
        h, w = samples[index].mask.shape
        ys, xs = np.nonzero(green == index)
        box = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        assert box[0] <= h and box[1] <= w and len(ys) == box[0] * box[1]  # the image once, never mirrored
        assert len(np.unique(green)) > 1  # and other images around it
        ys, xs = np.nonzero(mask * (green == index))
        centres.append((ys.mean(), xs.mean()))
        outside = green != index  # what lies outside the image is labelled as its own image is
        for other in np.unique(green[outside]).astype(int):
            here = outside & (green == other)
            assert masks.dtype == np.uint8 and set(np.unique(mask[here])) <= {0, 1}
    offsets = np.abs(np.array(centres) - 128).max(axis=1)
    assert offsets.max() > 60  # the scar is not held at the centre
    # the mirror context, for comparison, stays inside the image and mirrors it
    mirror = CropSampler(samples, CropMix(positive_share=1.0), seed=0, size=256, augment_crops=False)
    sources, _, images = mirror.draw(5)
    assert all(np.unique(s["green"]).tolist() == [i] for s, i in zip(sources, images))


def test_validation_mosaic_packs_every_image_once_and_cuts_it_back():
    from landslide_mapper.training.evaluate import ValidationMosaic

    samples = _blob_samples(7, 7) + _blob_samples(3, 8, landslides=False)
    mosaic = ValidationMosaic.of(samples, width=600)
    assert mosaic.scene.mask.shape[1] <= 600 + 260 and mosaic.scene.mask.shape[0] > 260  # several shelves
    for sample, red, mask in zip(samples, mosaic.cut(mosaic.scene.sources["red"]), mosaic.masks()):
        np.testing.assert_array_equal(red, sample.sources["red"])
        np.testing.assert_array_equal(mask, sample.mask)
    assert mosaic.scene.mask.sum() == sum(int(s.mask.sum()) for s in samples)  # no label in the leftovers
    taken = np.zeros(mosaic.scene.mask.shape, int)
    for top, left, h, w in mosaic.placements:
        taken[top:top + h, left:left + w] += 1
    assert taken.max() == 1  # no two images overlap
    guttered = ValidationMosaic.of(samples, width=600, gutter=16)
    for sample, red in zip(samples, guttered.cut(guttered.scene.sources["red"])):
        np.testing.assert_array_equal(red, sample.sources["red"])
    outside = np.ones(guttered.scene.mask.shape, bool)
    for top, left, h, w in guttered.placements:
        outside[top:top + h, left:left + w] = False
    assert np.isnan(guttered.scene.sources["red"][outside]).all()  # nodata between the images


def test_learning_rate_warms_up_then_decays_on_the_global_step():
    from landslide_mapper.training.campaign import CampaignConfig, learning_rate

    config = CampaignConfig(steps=1000, warmup_steps=100, peak_learning_rate=1e-3, final_learning_rate=1e-5)
    assert learning_rate(config, 0) == pytest.approx(1e-5)
    assert learning_rate(config, 99) == pytest.approx(1e-3)
    assert learning_rate(config, 550) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-6)
    assert learning_rate(config, 1000) == pytest.approx(1e-5)
    rates = [learning_rate(config, s) for s in range(100, 1001, 50)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_warm_start_from_another_architecture_copies_the_shared_layers_only(tmp_path):
    from landslide_mapper.training.campaign import (
        CampaignConfig,
        load_shared_layers,
        save_compact_weights,
        shared_layers_note,
    )

    config = CampaignConfig(architecture="se", base_filters=4)
    spatial = build_model("spatial", len(config.bands), 4, presence=True)
    weights = tmp_path / "spatial.weights.npz"
    save_compact_weights(spatial, weights)
    se = build_model("se", len(config.bands), 4, presence=True)
    fresh = {layer.name: layer.get_weights() for layer in se.layers}
    copied, total = load_shared_layers(se, weights, "spatial", config)
    se_names = {layer.name for layer in se.layers if layer.get_weights()}
    shared = se_names & {layer.name for layer in spatial.layers if layer.get_weights()}
    assert copied == len(shared) and total == len(se_names) and 0 < copied < total
    for name in se_names:
        mine = se.get_layer(name).get_weights()
        # float16 storage: copied layers equal the source to its precision; SE blocks keep their own init
        expected = spatial.get_layer(name).get_weights() if name in shared else fresh[name]
        for a, b in zip(mine, expected):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 if name in shared else 0)
    assert any(name.startswith("enc0_conv") for name in shared) and "presence" in shared
    assert not any("_att" in name for name in shared)
    assert "the rest freshly initialised" in shared_layers_note("spatial", copied, total)
    # the plain U-Net's layers are all in the spatial one: everything is copied, and the card says so
    unet = build_model("unet", len(config.bands), 4, presence=True)
    copied, total = load_shared_layers(unet, weights, "spatial", CampaignConfig(architecture="unet", base_filters=4))
    assert copied == total
    assert shared_layers_note("spatial", copied, total) == (
        f" (a spatial_attention_unet's: all {total} of this network's layers with weights)")


def test_lovasz_hinge_matches_its_definition_image_by_image():
    """Against a direct NumPy reading of Berman et al.'s Algorithm 1, per image; zero for a
    confident, right map; an empty image pays for its worst false alarm."""
    from landslide_mapper.training.losses import lovasz_hinge

    def by_hand(labels, probabilities):
        logits = np.log(probabilities) - np.log(1 - probabilities)
        errors = 1 - logits * (2 * labels - 1)
        order = np.argsort(-errors, kind="stable")
        e, g = errors[order], labels[order]
        jaccard = 1 - (g.sum() - np.cumsum(g)) / (g.sum() + np.cumsum(1 - g))
        return np.sum(np.maximum(e, 0) * np.diff(jaccard, prepend=0.0))

    rng = np.random.default_rng(4)
    y = (rng.random((3, 8, 8, 1)) < 0.3).astype(np.float32)
    y[2] = 0  # a landslide-free window
    p = rng.uniform(0.05, 0.95, y.shape).astype(np.float32)
    expected = np.mean([by_hand(y[i].ravel(), p[i].ravel().astype(np.float64)) for i in range(3)])
    assert float(lovasz_hinge(y, p)) == pytest.approx(expected, rel=1e-4)
    confident = np.where(y == 1, 0.999, 0.001).astype(np.float32)
    assert float(lovasz_hinge(y, confident)) == pytest.approx(0.0, abs=1e-6)
    assert float(lovasz_hinge(y[2:], p[2:])) == pytest.approx(1 + np.log(p[2].max() / (1 - p[2].max())), rel=1e-4)


def test_balanced_losses_by_hand():
    from landslide_mapper.training.losses import MAP_LOSSES

    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    p = np.array([0.9, 0.6, 0.3, 0.0], np.float32).reshape(1, 2, 2, 1)
    bce = -np.mean([np.log(0.9), np.log(0.6), np.log(0.7), np.log(1 - 1e-6)])
    dice = 1 - (2 * 1.5 + 1) / (2 + 1.8 + 1)
    assert float(MAP_LOSSES["bce_dice"](y, p)) == pytest.approx(bce + dice, rel=1e-4)
    # per image: an empty image's false alarm counts in full, not diluted by a landslide image
    y2 = np.concatenate([y, np.zeros_like(y)])
    p2 = np.concatenate([p, np.full_like(p, 0.5)])
    assert float(MAP_LOSSES["bce_dice_image"](y2, p2)) > float(MAP_LOSSES["bce_dice"](y2, p2))
    tp, fn, fp = 1.5, 0.5, 0.3
    ti = (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1)
    assert float(MAP_LOSSES["paper"](y, p)) == pytest.approx((1 - ti) + (1 - ti) ** 0.75, rel=1e-5)


def test_campaign_resumes_exactly_and_exports_one_gated_graph(tmp_path):
    """A tiny presence-head model: a run stopped and resumed equals the run done at once
    (schedule, sampler and optimizer state all restored), and its export is one graph
    whose output is the probability map times the window's presence score."""
    import keras
    from landslide_mapper.training.architectures import gated_model, has_presence_head, pixel_model
    from landslide_mapper.training.campaign import CampaignConfig, train_campaign
    from landslide_mapper.training.export import export_run

    train_samples = _blob_samples(6, 2) + _blob_samples(3, 3, landslides=False)
    val_samples = _blob_samples(2, 4) + _blob_samples(1, 5, landslides=False)

    def config(epoch_steps, max_minutes=None):
        return CampaignConfig(base_filters=4, steps=6, epoch_steps=epoch_steps, warmup_steps=2, batch_size=4,
                              jit_compile=False, max_minutes=max_minutes)

    quiet = {"log": lambda _message: None}
    whole = train_campaign(train_samples, val_samples, tmp_path / "once", config(6), **quiet)
    assert whole["step"] == 6 and whole["stopped"].startswith("schedule complete")
    legs = tmp_path / "legs"  # a first leg cut short by its time limit after 3 steps, then resumed
    state = train_campaign(train_samples, val_samples, legs, config(3, max_minutes=1e-9), **quiet)
    assert state["step"] == 3 and state["stopped"].startswith("time limit")
    assert train_campaign(train_samples, val_samples, legs, config(3), resume=True, **quiet)["step"] == 6
    once = keras.models.load_model(tmp_path / "once" / "last.keras", compile=False)
    resumed = keras.models.load_model(legs / "last.keras", compile=False)
    for a, b in zip(once.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    assert has_presence_head(once)
    x = np.random.default_rng(0).normal(size=(2, 128, 128, 4)).astype(np.float32)
    probability, presence = (np.asarray(t) for t in once(x, training=False))
    np.testing.assert_allclose(np.asarray(gated_model(once)(x)), probability * presence[:, :, None, None], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(pixel_model(once)(x)), probability, rtol=1e-6)

    prediction = export_run(tmp_path / "once", tmp_path / "gated.onnx", check_patches=2)[0]
    import onnxruntime as ort

    session = ort.InferenceSession(str(prediction))
    assert len(session.get_outputs()) == 1
    best = gated_model(keras.models.load_model(tmp_path / "once" / "best.keras", compile=False))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], np.asarray(best(x)), atol=1e-4)
    assert json.loads((tmp_path / "once" / "spec.json").read_text())["training"]["presence"] is True
    # the card says what trained it, from the spec's metrics (recorded in state.json by the campaign)
    from landslide_mapper.core.model.onnx_model import read_spec

    hardware = read_spec(prediction).extra["metrics"]["hardware"]
    assert f"hours on {hardware}" in prediction.with_suffix(".md").read_text()


# --- datasets as objects (training/datasets.py) ---------------------------------------


def _png(path, bands):
    from osgeo import gdal

    path.parent.mkdir(parents=True, exist_ok=True)
    mem = gdal.GetDriverByName("MEM").Create("", bands.shape[2], bands.shape[1], bands.shape[0], gdal.GDT_Byte)
    for i, band in enumerate(bands):
        mem.GetRasterBand(i + 1).WriteArray(band)
    gdal.GetDriverByName("PNG").CreateCopy(str(path), mem)


def _fake_bijie(root: Path, seed: int = 0) -> Path:
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
            _png(root / cls / "mask" / f"{id_}.png", (mask * 255)[None])
        _png(root / cls / "image" / f"{id_}.png", rgb.astype(np.uint8))
        rows.append({"id": id_, "class": cls, "image": f"{cls}/image/{id_}.png",
                     "mask": f"{cls}/mask/{id_}.png" if cls == "landslide" else "", "width": w, "height": h})
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_bijie_dataset_keeps_its_pinned_test_images_out_of_fitting(tmp_path):
    from landslide_mapper.training.datasets import Bijie, dataset_at

    pinned = ROOT / "training" / "splits" / "bijie_test.json"
    before = pinned.read_bytes()
    bijie = dataset_at(_fake_bijie(tmp_path / "bijie"))
    assert isinstance(bijie, Bijie) and bijie.campaign and bijie.resolution_m == 0.8
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

    l4s = dataset_at(SHARED / "landslide4sense")
    assert isinstance(l4s, Landslide4Sense) and not l4s.campaign and l4s.resolution_m == 10.0
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

    patches = make_patchset(_blob_samples(5, 6) + _blob_samples(2, 7, landslides=False), 0.25)
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

    assert isinstance(dataset_from_args(args(data=str(_fake_bijie(tmp_path / "b")))), Bijie)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "patches.npz").write_bytes(b"")
    assert isinstance(dataset_from_args(args(patches=str(tmp_path / "p"))), PatchFolder)
    inventory = dataset_from_args(args(image="a.tif", polygons="b.gpkg", red=3, blue=1))
    assert isinstance(inventory, RasterInventory) and inventory.band_numbers == {"red": 3, "green": 2, "blue": 1}
    with pytest.raises(DatasetError, match="--polygons"):
        dataset_from_args(args(image="a.tif"))
    with pytest.raises(DatasetError, match="give --data"):
        dataset_from_args(args())


def test_one_window_picker_for_the_export_check_and_int8_calibration():
    from landslide_mapper.training.calibrate import model_windows

    spec = ModelSpec.from_dict({
        "spec_version": 1, "name": "t", "architecture": "unet", "bands": ["red"],
        "normalization": {"mean": [0.0], "std": [1.0]}, "patch_size": 128, "size_multiple": 16, "threshold": 0.5,
        "output": "landslide_probability"})

    def image(value, landslide_in_second_window):
        mask = np.zeros((128, 300), np.uint8)
        if landslide_in_second_window is not None:
            mask[:, 200 if landslide_in_second_window else 0] = 1
        return Sample(str(value), {"red": np.arange(300, dtype=np.float32)[None].repeat(128, 0) + value * 1000}, mask)

    samples = [image(0, None), image(1, True), image(2, False), image(3, False), image(4, None)]
    # the check: each image's first window with landslide pixels; images without any give none
    check = model_windows(spec, samples, 2)
    assert check.shape == (2, 128, 128, 1)
    assert check[0, 0, 0, 0] == 1000 + 96 and check[1, 0, 0, 0] == 2000  # image 1's second window, image 2's first
    # calibration: each image's first window, at most 1 with landslides, then those without
    calibration = model_windows(spec, samples, 3, landslide_windows=1)
    assert [int(w[0, 0, 0] // 1000) for w in calibration] == [2, 0, 1]
    assert all(w[0, 0, 0] % 1000 == 0 for w in calibration)  # first windows only


def test_model_card_is_written_from_the_spec_alone():
    from landslide_mapper.core.model.onnx_model import read_spec
    from landslide_mapper.training.card import model_card

    bundled = read_spec(ROOT / "models" / "spatial_attention_unet.onnx").to_dict()
    card = model_card(bundled, "spatial_attention_unet.onnx")
    assert "- Trained on Bijie (Guizhou, China) imagery only" in card
    assert "- No slope band (the copy of Bijie available has no DEM), so terrain is not used." in card
    assert "Values are 8-bit display values" in card and f"crops of {bundled['patch_size']} px drawn from them" in card
    hardware = bundled["metrics"].get("hardware")  # runs before recording it trained on CPUs
    assert (f"({bundled['metrics']['cpu_hours']} hours on {hardware}, " if hardware else
            f"({bundled['metrics']['cpu_hours']} CPU-hours, ") in card
    other = {**bundled, "bands": ["red", "green", "blue", "slope"],
             "normalization": {"mean": [0.0] * 4, "std": [1.0] * 4},
             "training": {**bundled["training"], "dataset": {"name": "landslide4sense", "path": "l4s"}},
             "metrics": {**bundled["metrics"], "hardware": "NVIDIA H200", "stopped": "time limit at step 10"}}
    card = model_card(other, "other.onnx")
    assert "Bijie" not in card.split("## Limits")[1] and "- Trained on Landslide4Sense imagery only" in card
    assert "Slope is an input" in card and "No slope band" not in card and "brightness = " not in card
    assert f"({bundled['metrics']['cpu_hours']} hours on NVIDIA H200, " in card
    assert "stopped by the training time budget (training on NVIDIA H200)" in card
    assert "the dataset's rescaled values" in card
    inventory = {**other, "training": {**bundled["training"], "dataset": {"image": "/data/scene.tif"},
                                       "train_patches": 40, "val_patches": 12}}
    card = model_card(inventory, "mine.onnx")  # a run from before datasets were named: known by its keys
    assert "Trained on one raster (scene.tif) imagery only" in card and "40 training and 12 validation patches" in card


def test_run_spec_says_what_is_missing_and_exports_without_a_state(tmp_path):
    from landslide_mapper.training.export import run_spec

    with pytest.raises(FileNotFoundError, match="no spec.json"):
        run_spec(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(FileNotFoundError, match="no best.keras"):
        run_spec(tmp_path)
    (tmp_path / "best.keras").write_bytes(b"")
    assert run_spec(tmp_path) == {"name": "x"}  # no state.json: no metrics, no KeyError
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 4, "best_epoch": 3, "best_scores": {"val_f1": 0.51234},
                                                     "hardware": "2 CPU cores"}))
    metrics = run_spec(tmp_path)["metrics"]
    assert metrics["validation"] == {"f1": 0.5123} and metrics["epochs_trained"] == 4
    assert metrics["hardware"] == "2 CPU cores"


def test_export_calibrates_on_a_bijie_dataset_and_calibration_runs_on_its_own(tmp_path):
    """`train --data` then `export --data` on a folder in the Bijie layout: the graphs are
    calibrated on its validation images and scored on its pinned test images; calibrating
    the written model again, as a step of its own, gives the same spec."""
    from landslide_mapper.core.model.onnx_model import OnnxModel, read_spec
    from landslide_mapper.training.calibrate import calibrate
    from landslide_mapper.training.cli import main
    from landslide_mapper.training.datasets import Bijie

    bijie = Bijie(_fake_bijie(tmp_path / "bijie"))
    run = tmp_path / "run"
    main(["train", "--data", str(bijie.root), "--recipe", "paper", "--epochs", "1", "--base-filters", "4",
          "--batch-size", "8", "--quiet", "--out", str(run)])
    assert json.loads((run / "spec.json").read_text())["training"]["dataset"]["val_share"] == 0.3
    out = tmp_path / "models" / "b.onnx"
    main(["export", "--run", str(run), "--out", str(out), "--data", str(bijie.root), "--check-patches", "2"])
    spec = read_spec(out).to_dict()
    assert spec["resolution_m"] == 0.8 and spec["input_percentiles"]["bands"] == ["red", "green", "blue"]
    assert spec["export_check"]["real_patches"] and spec["export_check"]["patches"] == 2
    metrics = spec["metrics"]
    assert metrics["validation_images"]["images"] == 3 and metrics["test"]["images"] == 3  # 3 pinned test images
    assert metrics["test"]["data"] == Bijie.test_source and spec["threshold"] == metrics["validation_images"]["threshold"]
    # the threshold is chosen on the validation images run as one scene, as Detect runs a mapper's scene
    assert spec["threshold"] == metrics["validation_scene"]["threshold"] and metrics["test_scene"]["images"] == 3
    assert read_spec(out.with_name("b_saliency.onnx")).to_dict()["input_percentiles"] == spec["input_percentiles"]
    card = out.with_suffix(".md").read_text()
    assert "held-out test images (3)" in card and "Trained on Bijie (Guizhou, China)" in card
    assert "the same test images as one scene" in card and "validation images as one scene" in card
    again = calibrate(OnnxModel(out), spec, bijie)
    for key in ("threshold", "input_percentiles", "resolution_m", "object_filter"):
        assert again.get(key) == spec.get(key), key
    assert again["metrics"]["test"] == metrics["test"]
