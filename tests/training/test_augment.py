"""training/augment.py: geometry moves mask and bands together; the field jitter varies
what a sensor changes."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from landslide_mapper.training import augment as aug  # noqa: E402

pytestmark = pytest.mark.slow


def test_augmentation_moves_mask_and_bands_together():
    mask = np.zeros((128, 128), np.uint8)
    mask[20:60, 30:50] = 1
    for seed in range(30):
        sources = {"red": mask * 200.0 + 20.0, "slope": mask.astype(np.float32) * 30.0}
        out, out_mask = aug.augment(sources, mask, np.random.default_rng(seed))
        # slope is never blurred: geometric changes alone, so it still matches the mask
        disagreement = np.mean((out["slope"] > 15) != (out_mask == 1))
        assert disagreement < 0.01, seed
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1}


def test_field_augmentation_keeps_mask_and_slope_together_and_varies_what_a_sensor_changes():
    mask = np.zeros((128, 128), np.uint8)
    mask[40:80, 30:70] = 1
    scales, colours, collars = [], [], 0
    for seed in range(60):
        texture = np.random.default_rng(100 + seed).uniform(0, 20, mask.shape)
        sources = {"red": mask * 150.0 + 60.0, "green": mask * 150.0 + 50.0 + texture,
                   "slope": mask.astype(np.float32) * 30.0}
        out, out_mask = aug.field_jitter({k: v.copy() for k, v in sources.items()}, mask.copy(),
                                         np.random.default_rng(seed))
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1, aug.IGNORE}
        # a collar: a border strip repeats the pixels next to it, and is nodata (IGNORE), not landslide-free
        strips = (out["green"][:12], out["green"][-12:], out["green"][:, :12].T, out["green"][:, -12:].T)
        masks = (out_mask[:12], out_mask[-12:], out_mask[:, :12].T, out_mask[:, -12:].T)
        if (out_mask == aug.IGNORE).any():
            assert any(np.ptp(strip, axis=0).max() == 0 and (m == aug.IGNORE).all() for strip, m in zip(strips, masks))
            collars += 1
            continue
        assert np.mean((out["slope"] > 15) != (out_mask == 1)) < 0.02, seed  # geometry moves both alike
        scales.append(out_mask.sum() / mask.sum())
        colours.append(out["red"][out_mask == 0].mean())
    assert min(scales) < 0.6 and max(scales) > 1.6  # the landslide's area follows the zoom (0.6-1.5x per side)
    assert np.ptp(colours) > 20  # the background's tone moves
    assert 2 <= collars <= 25
