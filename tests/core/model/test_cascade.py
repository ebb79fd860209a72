"""Skipping the decoder where the presence stage finds nothing: the split is exact, the
skipped windows are bounded by the cut, and Detect uses it only when asked."""

import json

import numpy as np
import pytest
from model_factory import default_spec


@pytest.fixture(scope="module")
def presence_model(tmp_path_factory):
    """A tiny, untrained spatial-attention U-Net with a presence head, exported as the
    trainer exports it (probability gated by presence) and split into its two stages."""
    pytest.importorskip("tensorflow")
    import keras
    from landslide_mapper.training.architectures import build_model, gated_model
    from landslide_mapper.training.cascade import split_stages
    from landslide_mapper.training.export import prediction_onnx, write_with_spec

    keras.utils.set_random_seed(3)
    network = gated_model(build_model("spatial", 4, 4, presence=True))
    path = tmp_path_factory.mktemp("cascade") / "tiny.onnx"
    write_with_spec(prediction_onnx(network, 4), path, default_spec(patch_size=64))
    presence_path, decoder_path = split_stages(path)
    assert presence_path.name == "tiny_presence.onnx" and decoder_path.name == "tiny_decoder.onnx"
    return path


def windows(count=12, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1, (count, 4, size, size)) * rng.uniform(0.1, 3, (count, 1, 1, 1))).astype(np.float32)


def presence_scores(path, batch):
    import onnxruntime as ort

    stage = ort.InferenceSession(str(path.with_name("tiny_presence.onnx")))
    return stage.run(None, {"input": batch.transpose(0, 2, 3, 1).copy()})[0].ravel()


def test_the_two_stages_compute_the_whole_graph(presence_model):
    from landslide_mapper.core.model.onnx_model import OnnxModel

    batch = windows()
    whole = OnnxModel(presence_model).predict(batch)
    staged = OnnxModel(presence_model, skip_empty=True, presence_cut=0.0)
    np.testing.assert_allclose(staged.predict(batch), whole, atol=1e-6)
    assert staged.cascade.tally.decoded == len(batch) and staged.cascade.tally.skipped == 0


def test_an_int8_model_s_stages_pass_8_bit_features_and_compute_its_whole_graph(presence_model, tmp_path):
    """The INT8 variant's features cross between the stages as 8-bit values, so the
    decoder's first convolutions stay quantized, and the stages give exactly its whole graph."""
    import onnx
    from landslide_mapper.core.model.onnx_model import OnnxModel
    from landslide_mapper.training.cascade import split_stages
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Windows(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": windows(8, seed=1).transpose(0, 2, 3, 1).copy()}])

        def get_next(self):
            return next(self.batches, None)

    int8 = tmp_path / "tiny_int8.onnx"
    quantize_static(str(presence_model), str(int8), Windows(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    _, decoder_path = split_stages(int8)
    feature_types = [i.type.tensor_type.elem_type for i in onnx.load(str(decoder_path)).graph.input[1:]]
    assert feature_types and set(feature_types) == {onnx.TensorProto.UINT8}
    batch = windows()
    staged = OnnxModel(int8, skip_empty=True, presence_cut=0.0)
    np.testing.assert_array_equal(staged.predict(batch), OnnxModel(int8).predict(batch))
    assert staged.cascade.tally.decoded == len(batch)


def test_a_skipped_window_is_zero_where_the_whole_graph_stays_under_the_cut(presence_model):
    from landslide_mapper.core.model.onnx_model import OnnxModel

    batch = windows()
    scores = presence_scores(presence_model, batch)
    cut = float(np.median(scores))
    whole = OnnxModel(presence_model).predict(batch)
    staged = OnnxModel(presence_model, skip_empty=True, presence_cut=cut)
    out = staged.predict(batch)
    skipped = scores < cut
    assert 0 < skipped.sum() < len(batch)
    assert staged.cascade.tally.skipped == skipped.sum()
    assert (out[skipped] == 0).all()
    np.testing.assert_allclose(out[~skipped], whole[~skipped], atol=1e-6)
    # the gate: a window's probability never exceeds its presence score
    assert (whole[skipped].max(axis=(1, 2)) <= scores[skipped] + 1e-6).all()
    # every window skipped: zeros of the right shape, without running the decoder
    nothing = OnnxModel(presence_model, skip_empty=True, presence_cut=1.5)
    assert nothing.predict(batch).shape == whole.shape and not nothing.predict(batch).any()


def test_no_cascade_without_a_cut_chosen_on_validation_or_when_not_asked(presence_model):
    from landslide_mapper.core.model.cascade import CASCADE_METADATA_KEY
    from landslide_mapper.core.model.onnx_model import OnnxModel

    assert OnnxModel(presence_model, skip_empty=True).cascade is None  # split, but no cut chosen
    import onnx

    stage = presence_model.with_name("tiny_presence.onnx")
    proto = onnx.load(str(stage))
    onnx.helper.set_model_props(proto, {CASCADE_METADATA_KEY: json.dumps({"cut": 0.25})})
    onnx.save(proto, str(stage))
    try:
        assert OnnxModel(presence_model, skip_empty=True).cascade.cut == 0.25
        assert OnnxModel(presence_model).cascade is None
    finally:
        onnx.helper.set_model_props(proto, {})
        onnx.save(proto, str(stage))


def test_a_model_without_presence_head_cannot_be_split(bright_model, tmp_path):
    import shutil

    from landslide_mapper.training.cascade import split_stages

    model = tmp_path / "bright.onnx"
    shutil.copy(bright_model, model)
    with pytest.raises(ValueError, match="no presence head"):
        split_stages(model)
    assert not list(tmp_path.glob("*_decoder.onnx"))


def with_cut(model_path, cut):
    """The presence stage's chosen cut set to ``cut`` (as ``python -m training cascade`` stores it)."""
    import onnx
    from landslide_mapper.core.model.cascade import CASCADE_METADATA_KEY

    stage = model_path.with_name(model_path.stem + "_presence.onnx")
    proto = onnx.load(str(stage))
    onnx.helper.set_model_props(proto, {CASCADE_METADATA_KEY: json.dumps({"cut": cut})} if cut is not None else {})
    onnx.save(proto, str(stage))


def test_detect_skips_windows_only_where_asked_and_says_so(provider, scene, presence_model, tmp_path):
    from rasters import read_raster
    from detect_runs import outputs, run

    def detect(folder, cut, skip=True):
        with_cut(presence_model, cut)
        try:
            results, lines = run({"INPUT": scene["image"], "MODEL_FILE": str(presence_model),
                                  "SKIP_EMPTY_WINDOWS": skip, "OBJECT_FILTER": False, **outputs(tmp_path / folder)})
        finally:
            with_cut(presence_model, None)
        return read_raster(results["OUTPUT_PROBABILITY"])[0], lines

    whole, whole_log = detect("whole", 1.5, skip=False)
    skipped, skipped_log = detect("skipped", 1.5)
    kept, kept_log = detect("kept", 0.0)
    valid = whole > -9999
    assert valid.any() and whole[valid].max() > 0
    assert (skipped[valid] == 0).all()  # a cut above any score skips every window ...
    assert any("found nothing in" in line and "(100%)" in line for line in skipped_log)
    # ... a cut at 0 none (the two stages give the whole graph), and off means off
    np.testing.assert_allclose(kept, whole, atol=1e-5)
    assert not any("found nothing" in line for line in whole_log + kept_log)


def test_the_cut_is_chosen_on_validation_under_a_cap_the_evidence_names(presence_model, tmp_path):
    """``cascade --max-cut``: evidence from beyond the validation images (imagery on which
    the presence head is less sure) caps the cut, and the stage says so beside it."""
    import shutil

    from landslide_mapper.training.cascade import choose_cut
    from training_samples import fake_bijie

    model = tmp_path / "tiny.onnx"
    for stage in ("tiny.onnx", "tiny_presence.onnx", "tiny_decoder.onnx"):
        shutil.copyfile(presence_model.with_name(stage), tmp_path / stage)
    evidence = choose_cut(model, fake_bijie(tmp_path / "bijie"), max_cut=0.2, why_capped="the demo scene lost two",
                          log=lambda line: None)
    assert evidence["cut"] <= 0.2 and "capped at 0.2: the demo scene lost two" in evidence["rule"]
    from landslide_mapper.core.model.onnx_model import OnnxModel

    assert OnnxModel(model, skip_empty=True).cascade.cut == evidence["cut"]
