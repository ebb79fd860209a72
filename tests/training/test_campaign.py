"""training/campaign.py: the learning-rate schedule, a warm start from another architecture,
and a campaign resumed exactly and exported as one gated graph."""

import json

import numpy as np
import pytest
from training_samples import blob_samples

pytest.importorskip("tensorflow")

from landslide_mapper.training.architectures import build_model  # noqa: E402

pytestmark = pytest.mark.slow


def test_learning_rate_warms_up_then_decays_on_the_global_step():
    from landslide_mapper.training.campaign import learning_rate
    from landslide_mapper.training.recipes import DefaultRecipe

    config = DefaultRecipe(steps=1000, warmup_steps=100, peak_learning_rate=1e-3, final_learning_rate=1e-5)
    assert learning_rate(config, 0) == pytest.approx(1e-5)
    assert learning_rate(config, 99) == pytest.approx(1e-3)
    assert learning_rate(config, 550) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-6)
    assert learning_rate(config, 1000) == pytest.approx(1e-5)
    rates = [learning_rate(config, s) for s in range(100, 1001, 50)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_warm_start_from_another_architecture_copies_the_shared_layers_only(tmp_path):
    from landslide_mapper.training.campaign import load_shared_layers, save_compact_weights, shared_layers_note
    from landslide_mapper.training.recipes import DefaultRecipe

    config = DefaultRecipe(architecture="se", base_filters=4)
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
    copied, total = load_shared_layers(unet, weights, "spatial", DefaultRecipe(architecture="unet", base_filters=4))
    assert copied == total
    assert shared_layers_note("spatial", copied, total) == (
        f" (a spatial_attention_unet's: all {total} of this network's layers with weights)")


def test_campaign_resumes_exactly_and_exports_one_gated_graph(tmp_path):
    """A tiny presence-head model: a run stopped and resumed equals the run done at once
    (schedule, sampler and optimizer state all restored), and its export is one graph
    whose output is the probability map times the window's presence score."""
    import keras
    from landslide_mapper.training.architectures import gated_model, has_presence_head, pixel_model
    from landslide_mapper.training.campaign import train_campaign
    from landslide_mapper.training.export import export_run
    from landslide_mapper.training.recipes import DefaultRecipe

    train_samples = blob_samples(6, 2) + blob_samples(3, 3, landslides=False)
    val_samples = blob_samples(2, 4) + blob_samples(1, 5, landslides=False)

    def config(epoch_steps, max_minutes=None):
        return DefaultRecipe(base_filters=4, steps=6, epoch_steps=epoch_steps, warmup_steps=2, batch_size=4,
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
    training = json.loads((tmp_path / "once" / "spec.json").read_text())["training"]
    assert training["presence"] is True and training["recipe_name"] == "default"
    # the card says what trained it, from the spec's metrics (recorded in state.json by the campaign)
    from landslide_mapper.core.model.onnx_model import read_spec

    hardware = read_spec(prediction).extra["metrics"]["hardware"]
    assert f"hours on {hardware}" in prediction.with_suffix(".md").read_text()
