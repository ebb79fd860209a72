"""algorithms/common.py: the engine's errors reach a Processing user in the engine's own words."""

import pytest
from landslide_mapper.algorithms.common import user_errors
from landslide_mapper.core.errors import UserError
from landslide_mapper.core.io.outputs import AtomicOutputs, OutputError
from landslide_mapper.core.model.onnx_model import Device, ModelError
from landslide_mapper.core.model.spec import ModelSpec, SpecError
from qgis.core import QgsProcessingException


def invalid_spec(_tmp_path):
    ModelSpec.from_dict({"name": "m"}, source="m.onnx")


def unknown_device(_tmp_path):
    Device.of("tpu")


def output_claimed_twice(tmp_path):
    with AtomicOutputs() as first, AtomicOutputs() as second:
        first.temporary(str(tmp_path / "landslides.gpkg"))
        second.temporary(str(tmp_path / "landslides.gpkg"))


@pytest.mark.parametrize("fail, error_type, old_base", [
    (invalid_spec, SpecError, ValueError), (unknown_device, ModelError, RuntimeError),
    (output_claimed_twice, OutputError, OSError)])
def test_spec_model_and_output_errors_are_user_errors_whose_message_reaches_the_user(tmp_path, fail, error_type,
                                                                                   old_base):
    with pytest.raises(error_type) as raised:
        fail(tmp_path)
    error = raised.value
    # the one error type adapters handle; still caught where its old base was
    assert isinstance(error, UserError) and isinstance(error, old_base) and error.subject is None
    with pytest.raises(QgsProcessingException) as said, user_errors():
        raise error
    assert str(said.value) == str(error) and str(error)
