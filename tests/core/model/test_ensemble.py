"""Flip test-time augmentation and the model ensemble, on real (tiny) ONNX models."""

import numpy as np
import pytest
from landslide_mapper.core.imagery.bands import build_stack
from landslide_mapper.core.imagery.inputs import InputError
from landslide_mapper.core.model.ensemble import ModelEnsemble, flip_averaged
from landslide_mapper.core.model.onnx_model import OnnxModel
from model_factory import build_model, default_spec


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    first = OnnxModel(build_model(folder / "a.onnx", default_spec(), seed=1))
    other_normalization = default_spec(normalization={"mean": [80.0, 90.0, 100.0, 95.0], "std": [30.0] * 4})
    second = OnnxModel(build_model(folder / "b.onnx", other_normalization, seed=2))
    slope = default_spec(bands=["red", "green", "blue", "slope"])
    third = OnnxModel(build_model(folder / "c.onnx", slope, seed=3))
    return first, second, third


def sources(seed=0, size=32):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0, 255, (size, size)).astype(np.float32) for name in ("red", "green", "blue")}


def test_flip_averaging_is_the_mean_of_the_four_flipped_runs(models):
    model = models[0]
    batch = build_stack(model.spec, sources())[None]
    by_hand = np.mean([
        model.predict(batch),
        model.predict(batch[..., ::-1].copy())[..., ::-1],
        model.predict(batch[..., ::-1, :].copy())[..., ::-1, :],
        model.predict(batch[..., ::-1, ::-1].copy())[..., ::-1, ::-1],
    ], axis=0)
    averaged = flip_averaged(model.predict)(batch)
    np.testing.assert_allclose(averaged, by_hand, rtol=1e-5, atol=1e-6)
    assert np.abs(averaged - model.predict(batch)).max() > 1e-3  # the random net is not flip-invariant


def test_ensemble_renormalizes_for_each_member(models):
    first, second, _ = models
    raw = sources(1)
    ensemble = ModelEnsemble([first, second])
    own_inputs = [m.predict(build_stack(m.spec, raw)[None])[0] for m in (first, second)]
    batch = build_stack(first.spec, raw)[None]  # normalized as the first member says
    np.testing.assert_allclose(ensemble.predict(batch)[0], np.mean(own_inputs, axis=0), rtol=1e-4, atol=1e-5)
    spread = ensemble.predict_with_spread(batch)
    assert spread.shape == (1, 2, 32, 32)
    np.testing.assert_allclose(spread[0, 1], np.std(own_inputs, axis=0), rtol=1e-3, atol=1e-5)
    assert spread[0, 1].max() > 0.01  # the two nets disagree somewhere


def test_ensemble_refuses_models_reading_other_bands(models):
    with pytest.raises(InputError, match="different bands"):
        ModelEnsemble([models[0], models[2]])


def image_inputs(spec, image):
    from landslide_mapper.core.imagery.inputs import ModelInput
    from landslide_mapper.core.io.readers import ArrayReader

    return ModelInput(spec, ArrayReader(image), {"red": 1, "green": 2, "blue": 3})


def blended(model_or_predict, spec, image, settings):
    from landslide_mapper.core.engine.streaming import predict_raster

    out = np.zeros(image.shape[1:], np.float32)

    def keep(row0, values, valid):
        out[row0 : row0 + values.shape[-2]] = values

    predict_raster(image_inputs(spec, image), model_or_predict, settings, keep)
    return out


def test_tta_in_the_engine_equals_the_mean_of_flipped_whole_image_runs(models):
    """With the window grid symmetric (96 px = 2 strides of 48), flipping each window
    is flipping the image: TTA must equal the mean of four flipped whole-image runs."""
    from landslide_mapper.core.engine.streaming import WindowSettings

    model = models[0]
    image = np.random.default_rng(5).uniform(0, 255, (3, 96, 96)).astype(np.float32)
    settings = WindowSettings(64, 16, 4)
    by_hand = np.mean([
        blended(model.predict, model.spec, image, settings),
        blended(model.predict, model.spec, image[:, :, ::-1], settings)[:, ::-1],
        blended(model.predict, model.spec, image[:, ::-1, :], settings)[::-1, :],
        blended(model.predict, model.spec, image[:, ::-1, ::-1], settings)[::-1, ::-1],
    ], axis=0)
    np.testing.assert_allclose(blended(flip_averaged(model.predict), model.spec, image, settings), by_hand,
                               rtol=1e-5, atol=1e-6)


def test_detect_with_an_ensemble_writes_mean_probability_and_uncertainty(models, tmp_path):
    from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
    from landslide_mapper.core.engine.streaming import WindowSettings
    from rasters import read_raster, write_raster

    first, second, _ = models
    image = np.random.default_rng(6).integers(0, 255, (3, 64, 64)).astype(np.uint8)
    path = write_raster(tmp_path / "image.tif", image)

    def run(model, name, settings, **kwargs):
        from landslide_mapper.core.detect.request import DetectRequest
        from landslide_mapper.core.imagery.inputs import ModelInput
        from landslide_mapper.core.io.readers import GdalReader

        outputs = DetectOutputs(str(tmp_path / f"{name}_p.tif"), str(tmp_path / f"{name}_m.tif"), **kwargs)
        request = DetectRequest(("the model given",), settings=settings, min_area_m2=0.0)  # detect runs ``model``
        detect(request, ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3}), model, outputs)
        return [read_raster(p)[0] for p in (outputs.probability, outputs.mask, outputs.uncertainty) if p]

    whole = WindowSettings(64, 0, 1)  # one window: the spread is exactly the members' std
    pa, _ = run(first, "a", whole)
    pb, _ = run(second, "b", whole)
    ensemble = ModelEnsemble([first, second])
    prob, mask, spread = run(ensemble, "ens", whole, uncertainty=str(tmp_path / "ens_u.tif"))
    np.testing.assert_allclose(prob, (pa + pb) / 2, atol=1e-5)
    np.testing.assert_allclose(spread, np.abs(pa - pb) / 2, atol=1e-5)
    assert np.array_equal(mask, (prob >= ensemble.spec.threshold).astype(np.uint8))
    # with overlapping windows the blend is linear: still the mean of the members' maps
    overlapping = WindowSettings(32, 16, 4)
    pa, _ = run(first, "a2", overlapping)
    pb, _ = run(second, "b2", overlapping)
    prob, _ = run(ensemble, "ens2", overlapping)
    np.testing.assert_allclose(prob, (pa + pb) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="needs an ensemble"):
        run(first, "single", whole, uncertainty=str(tmp_path / "single_u.tif"))
    assert not (tmp_path / "single_u.tif").exists() and not (tmp_path / "single_p.tif").exists()


def test_detect_algorithm_ensemble_and_tta_options(provider, scene, models, tmp_path, monkeypatch):
    import processing
    from landslide_mapper.algorithms import common
    from rasters import read_raster

    first, second, _ = models
    monkeypatch.setattr(common, "bundled_models", lambda: {"a": first.path, "b": second.path})

    def run(name, **params):
        folder = tmp_path / name
        result = processing.run("landslidemapper:detect", {
            "INPUT": scene["image"], "WINDOW": 64, "OVERLAP": 16,
            "OUTPUT_PROBABILITY": str(folder / "p.tif"), "OUTPUT_MASK": str(folder / "m.tif"),
            "OUTPUT_POLYGONS": str(folder / "l.gpkg"), **params})
        return result, read_raster(result["OUTPUT_PROBABILITY"])[0]

    _, pa = run("a", MODEL_FILE=str(first.path))
    _, pb = run("b", MODEL_FILE=str(second.path))
    result, mean = run("ensemble", ENSEMBLE=True, OUTPUT_UNCERTAINTY=str(tmp_path / "ensemble" / "u.tif"))
    np.testing.assert_allclose(mean, (pa + pb) / 2, atol=1e-5)
    spread = read_raster(result["OUTPUT_UNCERTAINTY"])[0]
    assert spread.shape == mean.shape and spread.min() >= 0 and spread.max() > 0.01
    _, flipped = run("tta", MODEL_FILE=str(first.path), TTA=True)
    assert 0 <= flipped.min() and flipped.max() <= 1 and np.abs(flipped - pa).max() > 1e-3
    with pytest.raises(Exception, match="averages the bundled models"):
        run("both", ENSEMBLE=True, MODEL_FILE=str(first.path))


def test_ensemble_carries_no_member_filter_and_averages_thresholds(tmp_path):
    """A member's object filter was fitted on that member's probabilities, not on the mean."""
    from landslide_mapper.core.model.object_filter import FEATURES

    n = len(FEATURES)
    fitted = {"features": list(FEATURES), "mean": [0.0] * n, "std": [1.0] * n, "weights": [1.0] * n,
              "bias": 0.0, "cut": 0.3}
    first = OnnxModel(build_model(tmp_path / "a.onnx", default_spec(threshold=0.6, object_filter=fitted), seed=1))
    second = OnnxModel(build_model(tmp_path / "b.onnx", default_spec(threshold=0.7), seed=2))
    assert first.spec.object_filter is not None
    ensemble = ModelEnsemble([first, second])
    assert ensemble.spec.object_filter is None
    assert ensemble.spec.threshold == pytest.approx(0.65)


def test_detect_asks_a_model_what_it_can_do_not_which_kind_it_is(models, tmp_path):
    """One model and an ensemble answer Detect's questions alike (core.model.protocol.DetectModel):
    a spread only from an ensemble, a file for the saliency summary only in one model, two
    stages only where one model has them; what a model cannot give is refused in plain words."""
    import re

    from landslide_mapper.core.detect.pipeline import DetectOutputs, detect
    from landslide_mapper.core.detect.request import DetectRequest
    from landslide_mapper.core.engine.streaming import WindowSettings

    first, second, _ = models
    ensemble = ModelEnsemble([first, second])
    assert (first.gives_spread, first.path.name, first.cascade) == (False, "a.onnx", None)
    assert (ensemble.gives_spread, ensemble.path, ensemble.cascade) == (True, None, None)
    image = np.random.default_rng(7).uniform(0, 255, (3, 64, 64)).astype(np.float32)
    outputs = DetectOutputs(str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "l.gpkg"))
    request = DetectRequest(("the model given",), settings=WindowSettings(64, 0, 1), saliency_summary=True)
    message = "The saliency summary explains one model: turn the ensemble off, or the summary."
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        detect(request, image_inputs(ensemble.spec, image), ensemble, outputs)
    assert list(tmp_path.iterdir()) == []
