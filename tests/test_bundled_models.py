"""Every model shipped in models/ carries everything the engine reads from a spec, so no
bundled model can ship without it again (a model without training percentiles once made
auto scaling stretch every non-8-bit scene)."""

import json

import pytest
from landslide_mapper.core.model.cascade import CASCADE_METADATA_KEY, stage_paths
from landslide_mapper.core.model.catalog import RECOMMENDED, bundled_models, variant
from landslide_mapper.core.model.object_filter import ObjectFilter
from landslide_mapper.core.model.onnx_model import OnnxModel

# the models and their INT8 variants (not the saliency graphs, not the stages)
PREDICTION_MODELS = sorted(p for m in bundled_models().values() for p in (m, variant(m, "int8")) if p.is_file())


@pytest.mark.parametrize("path", PREDICTION_MODELS, ids=lambda p: p.stem)
def test_every_bundled_model_has_a_complete_spec(path):
    spec = OnnxModel(path).spec
    percentiles = spec.input_percentiles  # typed and checked (low < high) when the spec is read
    assert percentiles is not None and percentiles.bands == spec.image_bands, "input_percentiles"
    assert spec.resolution_m is not None, "resolution_m"
    assert 0 < spec.threshold < 1
    assert spec.saliency_model and (path.parent / spec.saliency_model).is_file(), "saliency_model"
    card = path.with_name(path.stem.removesuffix("_int8") + ".md")
    assert card.is_file(), "model card"
    metrics = spec.extra.get("metrics", {})
    assert metrics.get("test", {}).get("f1") is not None, "held-out test scores"


def test_the_default_model_carries_its_object_filter():
    default = bundled_models()[RECOMMENDED]
    spec = OnnxModel(default).spec
    assert isinstance(spec.object_filter, ObjectFilter)
    assert "test_detect" in spec.extra["metrics"]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_the_default_skips_empty_windows_with_a_cut_validation_supports(precision):
    """Its two stages ship beside it, with the cut chosen on validation and the evidence:
    recall within 0.01 of the whole network and no landslide lost there."""
    import onnxruntime as ort

    path = variant(bundled_models()[RECOMMENDED], precision)
    presence, decoder = stage_paths(path)
    assert presence.is_file() and decoder.is_file()
    evidence = json.loads(ort.InferenceSession(str(presence)).get_modelmeta().custom_metadata_map[CASCADE_METADATA_KEY])
    scene = evidence["validation_scene"]
    assert scene["recall"] >= scene["recall_whole"] - 0.01
    assert scene["landslides_found"] == scene["landslides_found_whole"]
    assert 0 < evidence["cut"] < 1 and evidence["landslide_free_scene"]["windows_skipped"] > scene["windows_skipped"]
    assert OnnxModel(path, skip_empty=True).cascade.cut == evidence["cut"]
