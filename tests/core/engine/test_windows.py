"""Sliding windows: the grid, the blending weights, reflect padding."""

import numpy as np
import pytest
from landslide_mapper.core.engine.windows import AxisGrid, blend_weights_1d, reflect_indices


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


def test_nodata_continues_the_nearest_valid_pixels():
    from landslide_mapper.core.engine.windows import fill_from_nearest_valid

    stack = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    valid = np.ones((4, 6), bool)
    valid[0, :] = False  # a row of nodata: takes the nearest row's values
    valid[1, 1:3] = False  # a gap: each side from its nearer neighbour (ties: the left)
    valid[2, 4:] = False  # a collar at the right edge
    filled = fill_from_nearest_valid(stack, valid)
    np.testing.assert_array_equal(filled[:, valid], stack[:, valid])
    np.testing.assert_array_equal(filled[0, 1], [6, 6, 9, 9, 10, 11])
    np.testing.assert_array_equal(filled[:, 0], filled[:, 1])
    np.testing.assert_array_equal(filled[0, 2, 4:], [15, 15])
    assert not fill_from_nearest_valid(stack, np.zeros((4, 6), bool)).any()
    assert fill_from_nearest_valid(stack, np.ones((4, 6), bool)) is stack
