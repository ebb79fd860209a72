"""Models run through ONNX Runtime: the device asked for, and the provider that ran."""

import pytest
from landslide_mapper.core.model.onnx_model import OnnxModel


def test_device_choice_and_the_provider_that_ran(tmp_path, provider, scene, bright_model):
    """auto runs on the best provider this ONNX Runtime has (here the CPU unless a GPU
    build is installed); a device it lacks is refused with what it offers; Detect logs
    the provider that actually ran."""
    import onnxruntime
    import processing
    from landslide_mapper.core.model.onnx_model import ModelError, providers_for
    from qgis.core import QgsProcessingFeedback

    available = onnxruntime.get_available_providers()
    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in available else "CPUExecutionProvider"
    assert OnnxModel(bright_model).providers[0] == expected
    assert OnnxModel(bright_model, device="cpu").providers == ["CPUExecutionProvider"]
    missing = next(d for d, p in (("cuda", "CUDAExecutionProvider"), ("coreml", "CoreMLExecutionProvider"))
                   if p not in available)
    with pytest.raises(ModelError, match=f"device '{missing}' is not available.*it offers: "):
        providers_for(missing)

    class Log(QgsProcessingFeedback):
        lines: list = []

        def pushInfo(self, info):
            self.lines.append(info)

    log = Log()
    processing.run("landslidemapper:detect", {
        "INPUT": scene["image"], "MODEL_FILE": bright_model, "DEVICE": "cpu",
        "OUTPUT_PROBABILITY": str(tmp_path / "p.tif"), "OUTPUT_MASK": str(tmp_path / "m.tif"),
        "OUTPUT_POLYGONS": str(tmp_path / "l.gpkg")}, feedback=log)
    assert any("execution provider: CPUExecutionProvider" in line for line in log.lines)
