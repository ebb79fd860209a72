"""training/sampler.py: crops centred on landslides, hard negatives mined, mosaic context."""

import json

import numpy as np
import pytest
from training_samples import blob_samples

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow


def test_crop_sampler_centres_on_landslides_and_mines_hard_negatives():
    from landslide_mapper.training.sampler import CropMix, CropSampler

    samples = blob_samples(6, 0) + blob_samples(6, 1, landslides=False)
    sampler = CropSampler(samples, CropMix(positive_share=1.0, jitter=0), seed=0, augment_crops=False)
    sources, masks, images = sampler.draw(40)
    assert masks.shape == (40, 128, 128) and all(m.any() for m in masks)  # every crop holds its scar
    assert set(images.tolist()) <= set(range(6))
    # background crops: an image the model keeps marking wrongly is drawn far more often
    sampler = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=1.0), seed=0, augment_crops=False)
    sampler.record(np.array([8] * 5), np.array([0.9] * 5))
    _, _, images = sampler.draw(200)
    assert np.mean(images == 8) > 0.4 and sampler.false_alarm_scores[8] > 0.7  # uniform: 1 in 12
    # the random stream and the scores come back with the checkpoint: the same draws follow
    state = json.loads(json.dumps(sampler.state()))
    expected = sampler.draw(5)
    restored = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=1.0), seed=99, augment_crops=False)
    restored.load_state(state)
    again = restored.draw(5)
    np.testing.assert_array_equal(expected[1], again[1])
    np.testing.assert_array_equal(expected[2], again[2])


def test_mosaic_context_surrounds_an_image_with_other_training_images():
    """A 256-px crop of a small image holds the image once, other images (with their own
    labels) around it, and no mirror of it; landslides are found away from the centre."""
    from landslide_mapper.training.sampler import CropMix, CropSampler

    samples = blob_samples(8, 6)
    for k, sample in enumerate(samples):  # each image a constant of its own, so every crop pixel says its source
        sample.sources["green"] = np.full(sample.mask.shape, float(k), np.float32)
    sampler = CropSampler(samples, CropMix(positive_share=1.0, context="mosaic"), seed=0, size=256,
                          augment_crops=False)
    sources, masks, images = sampler.draw(60)
    centres = []
    for green, mask, index in zip([s["green"] for s in sources], masks, images):
        h, w = samples[index].mask.shape
        ys, xs = np.nonzero(green == index)
        box = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        assert box[0] <= h and box[1] <= w and len(ys) == box[0] * box[1]  # the image once, never mirrored
        assert len(np.unique(green)) > 1  # and other images around it
        ys, xs = np.nonzero(mask * (green == index))
        centres.append((ys.mean(), xs.mean()))
        outside = green != index  # what lies outside the image is labelled as its own image is
        for other in np.unique(green[outside]).astype(int):
            here = outside & (green == other)
            assert masks.dtype == np.uint8 and set(np.unique(mask[here])) <= {0, 1}
    offsets = np.abs(np.array(centres) - 128).max(axis=1)
    assert offsets.max() > 60  # the scar is not held at the centre
    # the mirror context, for comparison, stays inside the image and mirrors it
    mirror = CropSampler(samples, CropMix(positive_share=1.0), seed=0, size=256, augment_crops=False)
    sources, _, images = mirror.draw(5)
    assert all(np.unique(s["green"]).tolist() == [i] for s, i in zip(sources, images))


def test_copy_paste_sets_a_training_landslide_into_crops_without_one():
    """With copy_paste every crop drawn without a landslide gets one pasted in: the pasted
    pixels are another image's landslide pixels, labelled 1, and labels follow pixels."""
    from landslide_mapper.training.sampler import CropMix, CropSampler

    samples = blob_samples(4, 2) + blob_samples(4, 3, landslides=False)
    for k, sample in enumerate(samples):  # every pixel says its image, and + 0.5 on a landslide
        sample.sources["green"] = k + 0.5 * sample.mask.astype(np.float32)
    sampler = CropSampler(samples, CropMix(positive_share=0.0, copy_paste=1.0), seed=0, augment_crops=False)
    sources, masks, images = sampler.draw(30)
    for green, mask, index in zip([s["green"] for s in sources], masks, images):
        np.testing.assert_array_equal(mask == 1, green % 1 == 0.5)  # labels follow the pixels
        pasted = np.floor(green) != index
        (source,) = np.unique(np.floor(green[pasted])).astype(int)
        assert source != index and (green[pasted] % 1 == 0.5).all()  # one other image's landslide pixels
        assert pasted.sum() == (samples[source].mask == 1).sum()  # its whole scar (smaller than a crop)
    # off (the default): crops of landslide-free images hold no landslide
    plain = CropSampler(samples[4:], CropMix(positive_share=0.0), seed=0, augment_crops=False)
    assert not plain.draw(10)[1].any()
