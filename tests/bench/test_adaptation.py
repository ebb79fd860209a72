"""bench/adaptation.py's domain: the resampling is an area average, the colour response is
the documented one, and the validation images are dealt into two disjoint, balanced parts."""

import runpy

import numpy as np
import pytest
from locations import ROOT

BENCH = runpy.run_path(str(ROOT / "bench" / "adaptation.py"), run_name="bench")


def test_factor_two_is_the_block_mean():
    values = np.arange(36, dtype=np.float32).reshape(6, 6)
    expected = values.reshape(3, 2, 3, 2).mean(axis=(1, 3))
    assert np.allclose(BENCH["resampled"](values, 2.0), expected)


@pytest.mark.parametrize("factor", [1.5, 2.0, 3.0])
def test_area_weights_keep_a_constant_and_cover_the_new_grid(factor):
    weights = BENCH["area_weights"](7, factor)
    count = max(1, round(7 / factor))
    assert weights.shape == (count, 7)
    assert np.allclose(weights.sum(axis=1), 1.0)
    covered = min(7, int(np.ceil(count * factor)))  # the new grid's extent, in old pixels (a rest under half a new pixel is cropped)
    assert (weights[:, :covered].sum(axis=0) > 0).all() and not weights[:, covered:].any()


def test_a_mask_pixel_is_kept_where_landslides_cover_half_of_it():
    sample = BENCH["Sample"]("ls_x", {b: np.full((4, 4), 100.0, np.float32) for b in ("red", "green", "blue")},
                             np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.uint8))
    low = BENCH["other_sensor"](sample, 2.0)
    assert low.mask.tolist() == [[1, 0], [0, 0]]
    gain, gamma, offset = BENCH["RESPONSE"]["red"]
    haze, airlight = BENCH["HAZE"], BENCH["AIRLIGHT"]["red"]
    expected = ((1 - haze) * (gain * (100 / 255) ** gamma + offset) + haze * airlight) * 255
    assert np.allclose(low.sources["red"], expected, atol=1e-3)


def test_the_parts_are_disjoint_balanced_and_limited():
    ids = [f"ls_{i:04d}" for i in range(10)] + [f"nls_{i:04d}" for i in range(11)]
    dealt = BENCH["parts"](ids, None)
    adaptation, evaluation = dealt["adaptation"], dealt["evaluation"]
    assert not set(adaptation) & set(evaluation) and sorted(adaptation + evaluation) == sorted(ids)
    assert sum(i.startswith("ls_") for i in adaptation) == sum(i.startswith("ls_") for i in evaluation) == 5
    assert BENCH["parts"](ids, None) == dealt  # a fixed seed
    few = BENCH["parts"](ids, 4)
    assert [sum(i.startswith("ls_") for i in part) for part in few.values()] == [2, 2]
    assert [len(part) for part in few.values()] == [4, 4]
