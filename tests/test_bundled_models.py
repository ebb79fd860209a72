"""Every model shipped in models/ carries everything the engine reads from a spec, so no
bundled model can ship without it again (a model without training percentiles once made
auto scaling stretch every non-8-bit scene)."""

from pathlib import Path

import pytest
from landslide_mapper.core.model.catalog import MODELS_DIR, RECOMMENDED, bundled_models
from landslide_mapper.core.model.object_filter import ObjectFilter
from landslide_mapper.core.model.onnx_model import OnnxModel

PREDICTION_MODELS = sorted(p for p in Path(MODELS_DIR).glob("*.onnx") if not p.stem.endswith("_saliency"))


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
