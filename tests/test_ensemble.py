"""Flip test-time augmentation and the model ensemble, on real (tiny) ONNX models."""

import numpy as np
import pytest

from landslide_mapper.core.bands import build_stack
from landslide_mapper.core.ensemble import ModelEnsemble, flip_averaged
from landslide_mapper.core.inputs import InputError
from landslide_mapper.core.model import OnnxModel
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
