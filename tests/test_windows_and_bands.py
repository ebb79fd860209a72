import numpy as np
import pytest

from landslide_mapper.core.imagery.bands import brightness_index, build_stack, ground_pixel_size, slope_degrees
from landslide_mapper.core.model.spec import ModelSpec
from landslide_mapper.core.engine.windows import AxisGrid, blend_weights_1d, reflect_indices
from model_factory import default_spec


@pytest.mark.parametrize("length", [1, 37, 128, 129, 1000])
@pytest.mark.parametrize("window,overlap", [(128, 32), (64, 0), (256, 64), (32, 31)])
def test_axis_grid_covers_the_raster_with_margin(length, window, overlap):
    grid = AxisGrid(length, window, overlap)
    assert grid.padded_length >= length + 2 * grid.margin
    assert grid.start(grid.count - 1) + window >= length + grid.margin
    assert np.all(grid.weight_sum()[grid.margin : grid.margin + length] > 0)


def test_blend_weights_are_a_partition_of_unity_where_windows_overlap():
    grid = AxisGrid(1000, 128, 32)
    total = grid.weight_sum()
    inner = total[grid.window - grid.overlap : grid.padded_length - grid.window]
    np.testing.assert_allclose(inner, 1.0, atol=1e-6)
    w = blend_weights_1d(128, 32)
    assert w.min() > 0 and w[64] == 1.0 and w[0] < 0.01


def test_overlap_must_be_smaller_than_window():
    with pytest.raises(ValueError, match="overlap"):
        AxisGrid(100, 64, 64)


@pytest.mark.parametrize("length", [1, 2, 5, 17])
def test_reflect_indices_match_numpy_reflect_padding(length):
    data = np.arange(length)
    pad = 40
    expected = np.pad(data, pad, mode="reflect") if length > 1 else np.full(length + 2 * pad, 0)
    np.testing.assert_array_equal(data[reflect_indices(-pad, length + pad, length)], expected)


def test_brightness_index_formula():
    r, g, b = np.array([30.0]), np.array([60.0]), np.array([90.0])
    assert brightness_index(r, g, b)[0] == pytest.approx(np.sqrt((900 + 3600 + 8100) / 3))


def test_slope_of_a_tilted_plane():
    rows, cols = np.mgrid[0:20, 0:30].astype(np.float32)
    dem = 0.5 * cols * 2.0 + 0.0 * rows  # rises 1 m per 2 m pixel eastwards... 0.5 * x(m)
    slope = slope_degrees(dem, 2.0, 2.0)
    assert slope[5:-5, 5:-5] == pytest.approx(np.degrees(np.arctan(0.5)), abs=1e-4)


def test_ground_pixel_size_geographic_matches_known_lengths():
    # 1 arc-second pixels at the equator and at 60 degrees north
    gt_equator = (100.0, 1 / 3600, 0.0, 0.5 / 3600, 0.0, -1 / 3600)
    dx, dy = ground_pixel_size(gt_equator, True, np.array([0]))
    assert float(dx[0, 0]) == pytest.approx(30.92, abs=0.05)
    assert float(dy[0, 0]) == pytest.approx(30.72, abs=0.05)
    gt_60 = (100.0, 1 / 3600, 0.0, 60.0, 0.0, -1 / 3600)
    dx60, _ = ground_pixel_size(gt_60, True, np.array([0]))
    assert float(dx60[0, 0]) == pytest.approx(15.5, abs=0.1)
    assert ground_pixel_size((0, 2.0, 0, 0, 0, -3.0), False) == (2.0, 3.0)


def test_build_stack_orders_and_normalizes_bands_as_the_spec_says():
    spec = ModelSpec.from_dict(
        default_spec(
            bands=["blue", "brightness", "red", "slope"],
            normalization={"mean": [1, 2, 3, 4], "std": [2, 4, 8, 16]},
        )
    )
    red, green, blue = (np.full((2, 2), v, np.float32) for v in (10, 20, 30))
    slope = np.full((2, 2), 36, np.float32)
    stack = build_stack(spec, {"red": red, "green": green, "blue": blue}, slope)
    bi = np.sqrt((100 + 400 + 900) / 3)
    assert stack[:, 0, 0] == pytest.approx([(30 - 1) / 2, (bi - 2) / 4, (10 - 3) / 8, (36 - 4) / 16])
