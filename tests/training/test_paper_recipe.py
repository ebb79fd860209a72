"""The paper recipe through the one trainer (training/campaign.py): the method's loss,
learning rate, epochs and plateau rules; a run stopped and resumed equals the run done at
once; a tiny model trains, resumes, and exports to ONNX graphs that match TF."""

import csv

import numpy as np
import pytest
from training_samples import blob_samples

pytest.importorskip("tensorflow")

from landslide_mapper.training.data import Sample, make_patchset, patch_samples  # noqa: E402

pytestmark = pytest.mark.slow


def scar_patches(count: int = 6, seed: int = 1) -> list:
    """128-px patches with one bright scar each, as the paper recipe's trainer takes them."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        red = rng.uniform(40, 90, (128, 128)).astype(np.float32)
        mask = np.zeros((128, 128), np.uint8)
        mask[rng.integers(10, 60):, :][:30, 40:80] = 1
        red[mask == 1] = 220
        samples.append(Sample(f"s{i}", {"red": red, "green": red * 0.9, "blue": red * 0.8}, mask))
    return patch_samples(make_patchset(samples, 0.0))


def read_log(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_paper_recipe_defaults_are_the_methods():
    from landslide_mapper.training.recipes import PaperRecipe

    recipe = PaperRecipe()
    assert (recipe.learning_rate, recipe.loss, recipe.presence, recipe.base_filters, recipe.batch_size) == (
        5e-5, "paper", False, 32, 16)
    assert (recipe.epochs, recipe.patience, recipe.lr_patience, recipe.lr_factor, recipe.patch_size) == (
        150, 30, 10, 0.5, 128)
    assert PaperRecipe.val_share == 0.3


def test_paper_recipe_trains_with_the_methods_loss_and_rate_and_resumes_exactly(tmp_path, monkeypatch):
    """Adam at 5e-5 on Tversky + focal Tversky over fixed patches, in epochs of every patch,
    no presence head, the best checkpoint by validation loss; a run cut after its first
    epoch and resumed ends with the weights of the run done at once."""
    import json

    import keras
    from landslide_mapper.training import losses
    from landslide_mapper.training.campaign import train_campaign
    from landslide_mapper.training.recipes import PaperRecipe

    used = []
    for name in ("paper", "bce_dice"):
        original = losses.MAP_LOSSES[name]
        monkeypatch.setitem(losses.MAP_LOSSES, name, lambda y, p, name=name, original=original: (
            used.append(name), original(y, p))[1])
    patches = scar_patches()
    quiet = {"log": lambda _line: None}

    def config(max_minutes=None):
        return PaperRecipe(epochs=2, batch_size=4, base_filters=4, jit_compile=False, max_minutes=max_minutes)

    once = train_campaign(patches[:4], patches[4:], tmp_path / "once", config(), **quiet)
    assert once["epoch"] == 2 and once["step"] == 2 and once["stopped"].startswith("all 2 epochs done")  # 1 batch each
    assert set(used) == {"paper"}  # training and validation both use the method's loss
    spec = json.loads((tmp_path / "once" / "spec.json").read_text())["training"]
    assert (spec["recipe_name"], spec["loss"], spec["presence"], spec["learning_rate"]) == ("paper", "paper", False,
                                                                                           5e-5)
    assert (spec["train_patches"], spec["val_patches"], spec["train_images"]) == (4, 2, 4)
    rows = read_log(tmp_path / "once" / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2] and all(float(r["learning_rate"]) == 5e-5 for r in rows)
    assert once["best_on"] == "validation loss"
    assert once["best_val_loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows), rel=1e-5)  # log: 6 digits
    last = keras.models.load_model(tmp_path / "once" / "last.keras", compile=False)
    assert len(last.outputs) == 1  # no presence head
    # the logged validation loss is the method's loss of the validation patches, as the model stood
    from landslide_mapper.core.model.spec import ModelSpec
    from landslide_mapper.training.campaign import model_input

    inputs = model_input(ModelSpec.from_json((tmp_path / "once" / "spec.json").read_text()),
                         [p.sources for p in patches[4:]])
    truth = np.stack([p.mask for p in patches[4:]])[..., None].astype(np.float32)
    expected = float(losses.tversky_focal_loss(truth, np.asarray(last(inputs, training=False))))
    assert float(rows[-1]["val_loss"]) == pytest.approx(expected, rel=1e-4)

    legs = tmp_path / "legs"
    first = train_campaign(patches[:4], patches[4:], legs, config(max_minutes=1e-9), **quiet)
    assert first["epoch"] == 1 and first["stopped"].startswith("time limit")
    assert train_campaign(patches[:4], patches[4:], legs, config(), resume=True, **quiet)["epoch"] == 2
    resumed = keras.models.load_model(legs / "last.keras", compile=False)
    for a, b in zip(last.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert len(read_log(legs / "log.csv")) == 2


def test_paper_recipe_reduces_the_rate_on_plateaus_and_stops_early():
    from landslide_mapper.training.campaign import PaperRecipePlan
    from landslide_mapper.training.recipes import PaperRecipe

    patches = scar_patches(2)
    plan = PaperRecipePlan(PaperRecipe(lr_patience=2, patience=3), patches, patches)
    state = plan.fresh_state()
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.93, 0.92], start=1):
        state["epoch"] = epoch
        row = {"val_loss": val_loss, "val_f1": 0.5}
        improved = plan.improved(state, row)
        if improved:
            plan.keep_best(state, row)
        plan.after_epoch(state, row, improved, log=lambda _line: None)
        assert state["learning_rate"] == (5e-5 if epoch < 4 else 2.5e-5)  # after 2 epochs without a better loss
        assert bool(state["stopped"]) == (epoch == 5)  # after 3
    assert state["best_epoch"] == 2 and state["stopped"] == "early stopping after epoch 5" and plan.finished(state)


def test_paper_recipe_refuses_whole_images():
    from landslide_mapper.training.campaign import PaperRecipePlan
    from landslide_mapper.training.recipes import PaperRecipe, RecipeError

    with pytest.raises(RecipeError, match="fixed 128-px patches"):
        PaperRecipePlan(PaperRecipe(), blob_samples(3, 0), scar_patches(2))


def test_train_resume_and_export(tmp_path):
    """A tiny model trains, stops, resumes, and exports to ONNX graphs that match TF."""
    from landslide_mapper.training.campaign import train_campaign
    from landslide_mapper.training.export import export_run, tf_saliency
    from landslide_mapper.training.recipes import PaperRecipe

    rng = np.random.default_rng(1)
    patches = scar_patches()
    config = PaperRecipe(architecture="spatial", epochs=2, batch_size=4, base_filters=4, learning_rate=1e-3,
                         jit_compile=False)
    run = tmp_path / "run"
    quiet = {"log": lambda _line: None}
    train_campaign(patches, patches, run, config, **quiet)
    assert {"best.keras", "last.keras", "spec.json", "log.csv", "curves.png", "state.json"} <= {
        p.name for p in run.iterdir()}
    config.epochs = 3
    state = train_campaign(patches, patches, run, config, resume=True, **quiet)
    assert state["epoch"] == 3
    assert len((run / "log.csv").read_text().strip().splitlines()) == 4  # header + 3 epochs

    out = tmp_path / "models" / "tiny.onnx"
    written = export_run(run, out, check_patches=2)
    prediction, saliency = written[:2]
    assert {p.name for p in written} == {"tiny.onnx", "tiny_saliency.onnx", "tiny.md", "tiny_curves.png"}
    card = out.with_suffix(".md").read_text()
    assert "held-out" not in card  # no test data given: no test scores claimed
    assert "The method's recipe" in card and "Epochs trained: 3;" in card
    from landslide_mapper.core.model.onnx_model import OnnxModel

    spec = OnnxModel(prediction).spec.to_dict()
    assert spec["metrics"]["epochs_trained"] == 3 and "f1" in spec["metrics"]["validation"]
    assert "CPU core" in spec["metrics"]["hardware"] or "GPU" in spec["metrics"]["hardware"]  # recorded by the trainer
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
