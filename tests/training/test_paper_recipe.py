"""training/train.py: a tiny model trains, stops, resumes, and exports to ONNX graphs that match TF."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from landslide_mapper.training.data import Sample, make_patchset  # noqa: E402

pytestmark = pytest.mark.slow


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
