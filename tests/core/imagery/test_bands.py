"""Derived bands and the input stack, one implementation for training and inference."""

import numpy as np
import pytest
from landslide_mapper.core.imagery.bands import brightness_index, build_stack, slope_degrees
from landslide_mapper.core.io.resolution import ground_pixel_size
from landslide_mapper.core.model.spec import ModelSpec
from model_factory import default_spec


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
