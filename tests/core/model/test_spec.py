import json
from dataclasses import fields

import pytest
from landslide_mapper.core.model.onnx_model import OnnxModel, read_spec
from landslide_mapper.core.model.spec import REQUIRED_FIELDS, SPEC_FIELDS, ModelSpec, SpecError
from model_factory import build_model, default_spec


def test_valid_spec_round_trips_through_json():
    spec = ModelSpec.from_dict(default_spec(training={"data": "bijie"}))
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.extra["training"] == {"data": "bijie"}
    assert spec.image_bands == ("red", "green", "blue")
    assert not spec.needs_dem


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field_is_named(field):
    data = default_spec()
    del data[field]
    with pytest.raises(SpecError, match=f"missing field\\(s\\): {field}"):
        ModelSpec.from_dict(data, source="mine.onnx")


def test_all_problems_reported_at_once():
    data = default_spec(bands=["red", "lidar"], threshold=2, patch_size=100)
    with pytest.raises(SpecError) as err:
        ModelSpec.from_dict(data)
    message = str(err.value)
    assert "lidar" in message and "threshold" in message and "multiple" in message
    assert "one mean and one std per band (2)" in message


def test_slope_and_nir_needs():
    spec = ModelSpec.from_dict(
        default_spec(bands=["nir", "slope"], normalization={"mean": [0, 0], "std": [1, 1]})
    )
    assert spec.image_bands == ("nir",)
    assert spec.needs_dem


def test_model_without_spec_is_rejected_with_clear_message(tmp_path):
    path = build_model(tmp_path / "nospec.onnx", include_spec=False)
    with pytest.raises(SpecError, match="no Landslide Mapper spec.*'landslide_mapper'"):
        OnnxModel(path)


def test_spec_is_read_from_onnx_metadata(tmp_path):
    path = build_model(tmp_path / "m.onnx", default_spec(name="abc", threshold=0.4))
    spec = read_spec(path)
    assert (spec.name, spec.threshold) == ("abc", 0.4)


def test_layout_taken_from_graph(tmp_path):
    nchw = OnnxModel(build_model(tmp_path / "a.onnx", layout="NCHW"))
    nhwc = OnnxModel(build_model(tmp_path / "b.onnx", layout="NHWC"))
    assert (nchw.layout, nhwc.layout) == ("NCHW", "NHWC")


def test_every_attribute_is_read_and_written_by_one_field():
    filled = [name for spec_field in SPEC_FIELDS for name in spec_field.attributes]
    assert sorted(filled) == sorted(f.name for f in fields(ModelSpec) if f.name != "extra")


def test_invalid_json_is_reported():
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{oops")
    assert json.loads(ModelSpec.from_dict(default_spec()).to_json())["bands"][3] == "brightness"


def test_optional_fields_are_typed_and_round_trip():
    data = default_spec(resolution_m=0.8, saliency_model="m_saliency.onnx", class_index=1,
                        input_percentiles={"bands": ["red", "green", "blue"], "low": [1, 2, 3], "high": [200, 210, 220],
                                           "percentiles": [2, 98]})
    spec = ModelSpec.from_dict(data)
    assert (spec.resolution_m, spec.saliency_model, spec.class_index) == (0.8, "m_saliency.onnx", 1)
    assert spec.input_percentiles.low == (1.0, 2.0, 3.0) and spec.input_percentiles.high[-1] == 220.0
    assert not {"resolution_m", "saliency_model", "class_index", "input_percentiles"} & set(spec.extra)
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("field, value", [
    ("resolution_m", "0.8 m"), ("resolution_m", -1), ("saliency_model", 3), ("class_index", 1.5),
    ("input_percentiles", {"low": [10, 20, 30], "high": [5, 200, 210]}), ("input_percentiles", [2, 98]),
    ("object_filter", {"features": ["area"], "cut": 0.5}),
])
def test_an_optional_field_of_the_wrong_type_is_named(field, value):
    with pytest.raises(SpecError, match=f"mine.onnx has an invalid .*{field}"):
        ModelSpec.from_dict(default_spec(**{field: value}), source="mine.onnx")
