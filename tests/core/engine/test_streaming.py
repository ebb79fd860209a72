"""The streaming engine: windows blended into a seamless raster, on real GeoTIFFs and ONNX models."""

import numpy as np
import pytest
from engine_runs import run_predict
from landslide_mapper.core.imagery.bands import build_stack
from landslide_mapper.core.imagery.inputs import ModelInput
from landslide_mapper.core.io.readers import GdalReader
from landslide_mapper.core.model.onnx_model import OnnxModel
from landslide_mapper.core.model.spec import ModelSpec
from model_factory import build_model, default_spec, reference_forward
from rasters import random_image, write_raster


def whole_image_reference(image, spec_dict, **kw):
    """The network run once over the whole image (zero padding at its edges)."""
    spec = ModelSpec.from_dict(spec_dict)
    stack = build_stack(spec, {"red": image[0], "green": image[1], "blue": image[2]})
    return reference_forward(stack[None], spec_dict, **kw)[0]


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("shape,window,overlap", [((300, 410), 64, 32), ((200, 200), 128, 32), ((37, 50), 64, 32), ((90, 70), 32, 8)])
def test_sliding_windows_equal_a_whole_image_run_away_from_borders(tmp_path, layout, shape, window, overlap):
    image = random_image(shape)
    path = write_raster(tmp_path / "img.tif", image)
    spec = default_spec()
    model = OnnxModel(build_model(tmp_path / "m.onnx", spec, layout=layout))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    blended = run_predict(model, inputs, window, overlap)
    expected = whole_image_reference(image, spec)
    # The net sees 2 px around a pixel, so a window differs from the whole run only within
    # 2 px of its edges, where the blend weight is at most sin²(pi/2 * 1.5/overlap).
    inner = (slice(3, -3), slice(3, -3))
    tolerance = np.sin(0.5 * np.pi * 1.5 / overlap) ** 2
    np.testing.assert_allclose(blended[inner], expected[inner], atol=tolerance)
    assert np.all((blended >= 0) & (blended <= 1))


def test_no_seams_at_window_borders(tmp_path):
    image = random_image((256, 256), seed=4)
    path = write_raster(tmp_path / "img.tif", image)
    model = OnnxModel(build_model(tmp_path / "m.onnx"))
    inputs = ModelInput(model.spec, GdalReader(path), {"red": 1, "green": 2, "blue": 3})
    no_overlap = run_predict(model, inputs, 64, 0)
    blended = run_predict(model, inputs, 64, 32)
    expected = whole_image_reference(image, default_spec())
    borders = [c for c in range(60, 200) if c % 64 in (63, 0)]
    # without overlap a window's zero padding shows as a seam; blending removes it
    seam_error = np.abs(no_overlap[:, borders] - expected[:, borders])[8:-8].max()
    blended_error = np.abs(blended[:, borders] - expected[:, borders])[8:-8].max()
    assert seam_error > 0.01
    assert blended_error < np.sin(0.5 * np.pi * 1.5 / 32) ** 2  # the blend weight 1 px in


def test_a_long_stage_says_how_far_it_is_and_how_long_is_left():
    from landslide_mapper.core.engine.progress import Progress

    fractions, messages, now = [], [], [0.0]
    progress = Progress(fractions.append, info=messages.append).part(0.5, 1.0)
    count = progress.counter(400, "windows", clock=lambda: now[0])
    for done in range(1, 401):
        now[0] = done * 1.5  # 1.5 s a window: 600 s in all
        count(done)
    assert fractions[0] == pytest.approx(0.5 + 0.5 / 400) and fractions[-1] == 1.0
    assert len(messages) == 9  # every tenth of the way, none at the end
    assert messages[0] == "40 of 400 windows (10 %), about 9 min left"
    assert messages[-1] == "360 of 400 windows (90 %), about 1 min left"
