"""Training crops drawn afresh at every step from whole images.

Fixed-grid patches see the same few crops of every image in every epoch, and a frozen
subset of landslide-free patches leaves most landslide-free terrain unseen. Here each
crop is drawn when it is needed:

- a share of crops is centred on a random landslide pixel (with jitter, so the scar is
  not always in the middle), which keeps the rare class well represented;
- the others are random crops of any training image, landslide-free ones included,
  chosen partly at random and partly by *hard-negative mining*: every image keeps a
  running score of how much of it the model has lately marked wrongly (read off the
  training step's own predictions, so it costs nothing), and images with many false
  alarms are drawn more often.

With ``context="mosaic"`` a crop may reach past its image's edges, and what lies there
is other training images (drawn at random for each crop, their landslides labelled), not
the image mirrored: a scene has unrelated terrain around every landslide, and a network
that learned the framing of an isolated, mirror-padded image loses F1 in a scene (Bijie's
images are 60-300 px; a 256-px crop of one is mostly mirror). Landslide pixels then land
anywhere in the crop, not near its centre.

With ``copy_paste`` a share of the other crops gets one training landslide pasted in, cut
out along its own outline from another image: a scar set next to bare fields, roads and
roofs, the look-alikes a landslide-free crop alone teaches the network to ignore.

Where an image has no data (:attr:`Sample.valid`: a mosaic's gutters and collars) a crop
is filled as Detect fills a window and its mask says IGNORE there (:func:`augment.as_nodata`),
so nodata is never drawn as landslide-free ground.

The random state and the scores are saved with each checkpoint, so a resumed run draws
what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.engine.windows import reflect_indices
from ..core.imagery.patches import PATCH, Sample
from .augment import as_nodata, augment


@dataclass
class CropMix:
    positive_share: float = 0.5  # crops centred on a landslide pixel
    hard_negative_share: float = 0.5  # of the other crops: images drawn by false-alarm score
    jitter: int = 40  # pixels the centre may move off the landslide pixel
    score_memory: float = 0.7  # weight of an image's previous score in the running average
    context: str = "mirror"  # past an image's edge: "mirror" it, or "mosaic": other training images
    margin: int = 16  # mosaic context: a landslide pixel lies at least this far inside its crop
    field_augment: bool = False  # also scale, colour, haze and nodata-collar jitter (training.augment)
    copy_paste: float = 0.0  # share of the non-landslide crops that get a training landslide pasted in


class CropSampler:
    def __init__(self, samples: list[Sample], mix: CropMix, seed: int, size: int = PATCH, augment_crops: bool = True):
        self.samples, self.mix, self.size, self.augment_crops = samples, mix, size, augment_crops
        self.rng = np.random.default_rng(seed)
        self.landslide_pixels = [np.flatnonzero(s.mask) for s in samples]
        self.with_landslides = np.array([i for i, p in enumerate(self.landslide_pixels) if p.size])
        # start every image at the same prior so all are drawn until the model has spoken
        self.false_alarm_scores = np.full(len(samples), 0.05)

    def draw(self, count: int):
        """(sources list, masks (N, size, size) uint8, image indices) of ``count`` crops; a
        mask is 1 on landslides, 0 on landslide-free ground, IGNORE where there is no data."""
        sources, masks, images = [], [], []
        for _ in range(count):
            in_mosaic = self.mix.context == "mosaic"
            positive = bool(self.with_landslides.size) and self.rng.random() < self.mix.positive_share
            if positive:
                index = int(self.rng.choice(self.with_landslides))
                y0, x0 = self._off_centre(index) if in_mosaic else self._around_landslide(index)
            else:
                index = self._background_image()
                y0, x0 = self._overlapping(index) if in_mosaic else self._anywhere(index)
            crop, mask, valid = (self.crop_in_mosaic(index, y0, x0) if in_mosaic else
                                 self.crop(self.samples[index], y0, x0))
            # drawn only when asked for, so runs without it draw what they always drew
            if not positive and self.mix.copy_paste and self.with_landslides.size and \
                    self.rng.random() < self.mix.copy_paste:
                self.paste_landslide(crop, mask, valid, self._other_image_with_landslides(index))
            if not valid.all():
                crop, mask = as_nodata(crop, mask, valid)
            if self.augment_crops:
                crop, mask = augment(crop, mask, self.rng, field=self.mix.field_augment)
            sources.append(crop)
            masks.append(mask)
            images.append(index)
        return sources, np.stack(masks), np.array(images)

    def crop(self, sample: Sample, y0: int, x0: int):
        """(sources, mask, valid) of the crop at (y0, x0), mirrored past the image's edges."""
        h, w = sample.mask.shape
        take = np.ix_(reflect_indices(y0, y0 + self.size, h), reflect_indices(x0, x0 + self.size, w))
        return ({k: v[take].astype(np.float32) for k, v in sample.sources.items()}, sample.mask[take],
                _valid(sample, take, (self.size, self.size)))

    def crop_in_mosaic(self, index: int, y0: int, x0: int):
        """(sources, mask, valid) of the crop at (y0, x0) of image ``index``, which may reach
        past the image: the image sits in a 3 x 3 block whose eight outer cells each hold a
        random other training image (mirrored only where that one is smaller than its cell)."""
        sample = self.samples[index]
        h, w = sample.mask.shape
        size = self.size
        sources = {k: np.empty((size, size), np.float32) for k in sample.sources}
        mask = np.zeros((size, size), np.uint8)
        valid = np.ones((size, size), bool)
        for row, (top, bottom) in enumerate(_cell_spans(y0, size, h)):
            for col, (left, right) in enumerate(_cell_spans(x0, size, w)):
                if bottom <= top or right <= left:
                    continue
                out = np.s_[top - y0:bottom - y0, left - x0:right - x0]
                if row == col == 1:
                    take = np.s_[top:bottom, left:right]
                    source = sample
                else:
                    source = self.samples[self._other_image(index)]
                    hn, wn = source.mask.shape
                    oy = int(self.rng.integers(0, max(hn - (bottom - top), 0) + 1))
                    ox = int(self.rng.integers(0, max(wn - (right - left), 0) + 1))
                    take = np.ix_(reflect_indices(oy, oy + bottom - top, hn), reflect_indices(ox, ox + right - left, wn))
                for name, band in sources.items():
                    band[out] = source.sources[name][take]
                mask[out] = source.mask[take]
                valid[out] = _valid(source, take, (bottom - top, right - left))
        return sources, mask, valid

    def paste_landslide(self, crop: dict, mask: np.ndarray, valid: np.ndarray, source_index: int) -> None:
        """Paste, in place, the landslide pixels of image ``source_index`` (those within one
        crop-sized piece around a random one of them) at a random place of the crop: only the
        scar's own pixels move, so its outline meets the crop's terrain."""
        source = self.samples[source_index]
        cy, cx = divmod(int(self.rng.choice(self.landslide_pixels[source_index])), source.mask.shape[1])
        rows, cols = np.nonzero(source.mask == 1)
        half = self.size // 2
        near = (np.abs(rows - cy) < half) & (np.abs(cols - cx) < half)
        rows, cols = rows[near], cols[near]
        top, left = rows.min(), cols.min()
        height, width = rows.max() - top + 1, cols.max() - left + 1
        oy = int(self.rng.integers(0, self.size - height + 1))
        ox = int(self.rng.integers(0, self.size - width + 1))
        target = (rows - top + oy, cols - left + ox)
        for name, band in crop.items():
            band[target] = source.sources[name][rows, cols]
        mask[target] = 1
        valid[target] = True

    def record(self, images: np.ndarray, false_alarm_shares: np.ndarray) -> None:
        """Fold the step's per-crop share of wrongly marked pixels into each image's score."""
        m = self.mix.score_memory
        for index, share in zip(images, false_alarm_shares):
            self.false_alarm_scores[index] = m * self.false_alarm_scores[index] + (1 - m) * float(share)

    def _around_landslide(self, index: int) -> tuple[int, int]:
        h, w = self.samples[index].mask.shape
        cy, cx = divmod(int(self.rng.choice(self.landslide_pixels[index])), w)
        cy += int(self.rng.integers(-self.mix.jitter, self.mix.jitter + 1))
        cx += int(self.rng.integers(-self.mix.jitter, self.mix.jitter + 1))
        half = self.size // 2
        # inside the image where it is big enough: Detect mirrors only at a raster's edges
        return (int(np.clip(cy - half, 0, max(h - self.size, 0))), int(np.clip(cx - half, 0, max(w - self.size, 0))))

    def _anywhere(self, index: int) -> tuple[int, int]:
        h, w = self.samples[index].mask.shape
        return int(self.rng.integers(0, max(h - self.size, 0) + 1)), int(self.rng.integers(0, max(w - self.size, 0) + 1))

    def _off_centre(self, index: int) -> tuple[int, int]:
        """Mosaic context: a random landslide pixel anywhere in the crop (but the margin)."""
        cy, cx = divmod(int(self.rng.choice(self.landslide_pixels[index])), self.samples[index].mask.shape[1])
        low, high = self.mix.margin, self.size - self.mix.margin
        return cy - int(self.rng.integers(low, high)), cx - int(self.rng.integers(low, high))

    def _overlapping(self, index: int) -> tuple[int, int]:
        """Mosaic context: a crop whose centre lies in the image."""
        h, w = self.samples[index].mask.shape
        half = self.size // 2
        return int(self.rng.integers(0, h)) - half, int(self.rng.integers(0, w)) - half

    def _other_image(self, index: int) -> int:
        if len(self.samples) == 1:
            return index
        other = int(self.rng.integers(len(self.samples) - 1))
        return other + (other >= index)

    def _other_image_with_landslides(self, index: int) -> int:
        candidates = self.with_landslides[self.with_landslides != index]
        return int(self.rng.choice(candidates if candidates.size else self.with_landslides))

    def _background_image(self) -> int:
        if self.rng.random() < self.mix.hard_negative_share:
            weights = self.false_alarm_scores + 1e-3
            return int(self.rng.choice(len(self.samples), p=weights / weights.sum()))
        return int(self.rng.integers(len(self.samples)))

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "false_alarm_scores": [round(float(s), 5) for s in
                                                                              self.false_alarm_scores]}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.false_alarm_scores = np.array(state["false_alarm_scores"], dtype=float)


def _valid(sample: Sample, take, shape: tuple[int, int]) -> np.ndarray:
    """Where the part ``take`` of ``sample`` has data (of ``shape``)."""
    return sample.valid[take] if sample.valid is not None else np.ones(shape, bool)


def _cell_spans(start: int, size: int, length: int) -> tuple[tuple[int, int], ...]:
    """The parts of ``[start, start + size)`` before, inside and after ``[0, length)``."""
    stop = start + size
    return ((start, min(stop, 0)), (max(start, 0), min(stop, length)), (max(start, length), stop))
