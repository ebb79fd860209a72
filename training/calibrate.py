"""Calibration: what an exported model learns from its dataset besides its weights, and
its test scores. A step of its own: export runs it before writing the graphs
(:func:`calibrate`), and ``python -m training calibrate`` runs it again on a model already
exported (:func:`recalibrate`).

On the validation images packed into one scene (:class:`training.evaluate.ValidationMosaic`),
run through the engine as Detect runs a mapper's scene: the threshold (best pixel F1 over
a fine grid) and the object filter (fitted on the objects Detect would draw there, when
the dataset's resolution is known: areas are in m²). Each image run alone (borders
mirrored) is scored too, but chooses nothing: it rewards the framing of an isolated image. The training images give
the input percentiles Detect's scaling maps other imagery onto; the dataset gives the
resolution Detect resamples other imagery to. The test images, where the dataset pins
some, are scored once, at the end, raw and as Detect gives them by default (minimum area,
object filter), each alone and as one scene, with 95 % bootstrap intervals: they never
choose anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.imagery.bands import build_stack
from ..core.imagery.patches import Sample, cut_patches
from ..core.model.spec import METADATA_KEY, ModelSpec
from .datasets import Dataset, Split, as_dataset

#: the validation share of runs whose spec predates recording it (the paper's)
PAPER_VAL_SHARE = 0.3


def training_split(spec: dict, dataset: Dataset) -> Split:
    """The split the model was trained with, from its spec's ``training`` entry."""
    training = spec.get("training", {})
    return dataset.split(training.get("dataset", {}).get("val_share", PAPER_VAL_SHARE), training.get("seed", 42))


def calibrate(model, spec: dict, dataset: Dataset, split: Split | None = None,
              validation: list[Sample] | None = None, log=print, start=None) -> dict:
    """``spec`` with what ``dataset`` teaches the model: resolution, input percentiles,
    threshold, object filter, and validation and test scores under ``metrics``.

    ``model``: the model to run (spec + predict, e.g. an OnnxModel); ``split``: the
    dataset's split (default: the one the spec's training recorded); ``validation``: its
    validation samples when the caller has read them already; ``start``: the model this
    one was trained from, compared with it under ``metrics["before_after"]`` (see
    :func:`before_and_after`) when the dataset's resolution is known.
    """
    from ..core.detect.request import DEFAULT_MIN_AREA_M2
    from ..core.evaluation.filter_fitting import fit_object_filter
    from .evaluate import (
        ValidationMosaic,
        best_threshold_of,
        detect_objects,
        detect_scores,
        predict_sample,
        score_probabilities,
    )

    model_spec = ModelSpec.from_dict(spec)
    check_calibratable(model_spec)
    split = split or training_split(spec, dataset)
    val = validation if validation is not None else dataset.samples(split.validation)
    resolution = dataset.resolution_m
    spec = {k: v for k, v in spec.items() if k not in ("object_filter", "resolution_m")}
    if resolution:
        spec["resolution_m"] = resolution
    spec["input_percentiles"] = input_percentiles(dataset.samples(split.train), model_spec)
    metrics = spec["metrics"] = dict(spec.get("metrics", {}))

    val_masks = [s.mask for s in val]
    val_scene = ValidationMosaic.of(val)
    val_probabilities = val_scene.cut(predict_sample(model, val_scene.scene))
    threshold, val_scores = best_threshold_of(val_probabilities, val_masks, window=model_spec.patch_size)
    spec["threshold"] = threshold
    metrics["validation_scene"] = {**val_scores, "note": "threshold chosen for best F1 here"}
    alone = score_probabilities([predict_sample(model, s) for s in val], val_masks, [threshold])[threshold]
    metrics["validation_images"] = {**alone, "note": "each image alone, at the threshold chosen on the scene"}
    object_filter, why_not = None, "the dataset's resolution is unknown, so object areas are too"
    if resolution:
        try:
            object_filter, fit = fit_object_filter(detect_objects(val_probabilities, val_masks, threshold, resolution,
                                                                  DEFAULT_MIN_AREA_M2))
        except ValueError as err:  # e.g. no false alarm (or no true object) to learn from
            why_not = str(err)
    if object_filter is not None:
        spec["object_filter"] = {**object_filter.to_dict(), "note": (
            f"Fitted on {fit['objects']} objects ({fit['true_objects']} true) of {len(val)} validation images run as "
            f"one scene, at threshold {threshold}, minimum area {DEFAULT_MIN_AREA_M2:g} m²")}
        metrics["validation_detect"] = {"without_filter": fit["without_filter"], "with_filter": fit["with_filter"]}
        log(f"threshold {threshold} (best validation F1 in one scene {val_scores['f1']}); object filter cut "
            f"{object_filter.cut}: validation {json.dumps(fit['with_filter'])}")
    else:
        log(f"threshold {threshold} (best validation F1 in one scene {val_scores['f1']}); no object filter: {why_not}")
    if split.test:
        test = dataset.samples(split.test)
        masks = [s.mask for s in test]
        test_scene = ValidationMosaic.of(test)
        views = {"": [predict_sample(model, s) for s in test],
                 "_scene": test_scene.cut(predict_sample(model, test_scene.scene))}
        for view, test_probabilities in views.items():
            metrics[f"test{view}"] = {**score_probabilities(test_probabilities, masks, [threshold])[threshold],
                                      "data": dataset.test_source}
            if resolution:
                objects = detect_objects(test_probabilities, masks, threshold, resolution, DEFAULT_MIN_AREA_M2)
                metrics[f"test{view}_detect"] = {
                    "with_filter": detect_scores(objects, threshold, DEFAULT_MIN_AREA_M2, object_filter),
                    "without_filter": detect_scores(objects, threshold, DEFAULT_MIN_AREA_M2)}
                log(f"held-out test{' as one scene' if view else ', each image alone'}, as Detect gives it: "
                    f"{json.dumps(metrics[f'test{view}_detect']['with_filter'])}")
            else:
                log(f"held-out test{view}: {json.dumps(metrics[f'test{view}'])}")
    if start is not None and resolution:
        # the calibrated model as Detect will read it (its threshold and object filter), on
        # the validation scene it has already predicted
        metrics["before_after"] = before_and_after(start, ModelSpec.from_dict(spec), val_scene, val_probabilities,
                                                   resolution)
    return spec


def before_and_after(start, calibrated: ModelSpec, scene, predicted: list[np.ndarray], resolution_m: float) -> dict:
    """The starting model and the model trained from it (its ``calibrated`` spec, and what
    it ``predicted`` on ``scene``, cut image by image: calibration's probabilities, so that
    the held-out part is predicted once per model), each at its own threshold and with its
    own object filter, on the validation images run as one scene (a
    :class:`training.evaluate.ValidationMosaic`), scored as Detect gives it (with
    intervals), and the new model's gain with a paired interval (the same images drawn for both)."""
    from ..core.detect.request import DEFAULT_MIN_AREA_M2
    from ..core.evaluation.filter_fitting import kept_by
    from ..core.evaluation.metrics import bootstrap_intervals
    from .evaluate import WITH_INTERVALS, detect_objects, detect_outcomes, detect_scores, predict_sample

    masks = scene.masks()
    result, outcomes = {"starting_model": start.spec.name, "images": len(scene.placements)}, {}
    runs = {"before": (start.spec, scene.cut(predict_sample(start, scene.scene))), "after": (calibrated, predicted)}
    for key, (spec, probabilities) in runs.items():
        objects = detect_objects(probabilities, masks, spec.threshold, resolution_m, DEFAULT_MIN_AREA_M2)
        result[key] = detect_scores(objects, spec.threshold, DEFAULT_MIN_AREA_M2, spec.object_filter)
        outcomes[key] = detect_outcomes(objects, [kept_by(spec.object_filter, o) for o in objects])
    gain = bootstrap_intervals(outcomes["after"], WITH_INTERVALS, baseline=outcomes["before"])
    result["gain_intervals"] = {k: [round(low, 4), round(high, 4)] for k, (low, high) in gain.items()}
    return result


def check_calibratable(spec: ModelSpec) -> None:
    """Calibration runs the model as Detect runs it, from image bands and a DEM; samples
    that carry a slope band of their own (Landslide4Sense, patches) cannot feed a slope model."""
    if spec.needs_dem:
        raise ValueError(f"{spec.name} reads slope: calibration runs the engine on image bands and a DEM, which "
                         "these samples do not have; export it without a dataset")


def recalibrate(model_path: str | Path, dataset: Dataset | str | Path) -> list[Path]:
    """Calibrate an exported model again (its saliency graph too, when beside it) and
    rewrite its card: the step export runs, on its own."""
    import onnx

    from ..core.model.onnx_model import OnnxModel
    from .card import model_card

    path = Path(model_path)
    model = OnnxModel(path)
    spec = ModelSpec.from_dict(calibrate(model, model.spec.to_dict(), as_dataset(dataset))).to_dict()
    graphs = {path: spec}
    if spec.get("saliency_model") and (path.parent / spec["saliency_model"]).is_file():
        graphs[path.parent / spec["saliency_model"]] = {**spec, "output": "saliency"}
    for graph, graph_spec in graphs.items():
        proto = onnx.load(str(graph))
        props = {p.key: p.value for p in proto.metadata_props}
        onnx.helper.set_model_props(proto, {**props, METADATA_KEY: json.dumps(graph_spec, sort_keys=True)})
        onnx.save(proto, str(graph))
    card = path.with_suffix(".md")
    card.write_text(model_card(spec, path.name))
    return [*graphs, card]


def model_windows(spec: ModelSpec, samples: Sequence[Sample], count: int,
                  landslide_windows: int | None = None) -> np.ndarray:
    """Up to ``count`` normalized NHWC windows cut from ``samples`` as the engine feeds the
    model, one per image, in order: what the exported graphs are checked and quantized on.

    ``landslide_windows=None``: each image's first window that holds landslide pixels
    (images without any give none). A number: each image's first window, at most that
    many of them with landslide pixels, the rest without.
    """
    with_landslides, without = [], []
    for sample in samples:
        for sources, mask in cut_patches(sample, spec.patch_size):  # windows the graphs take
            if landslide_windows is None and not mask.any():
                continue
            sources = dict(sources)
            slope = sources.pop("slope", None)
            (with_landslides if mask.any() else without).append(build_stack(spec, sources, slope).transpose(1, 2, 0))
            break
        if landslide_windows is None and len(with_landslides) == count:
            break
    kept = with_landslides[: count if landslide_windows is None else landslide_windows] + without
    return np.stack(kept[:count]).astype(np.float32)


def noise_windows(spec: ModelSpec, count: int, seed: int = 0) -> np.ndarray:
    """Seeded normal noise in the model's input shape: the export check without a dataset."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, spec.patch_size, spec.patch_size, len(spec.bands))).astype(np.float32)


def input_percentiles(samples, spec: ModelSpec, per_image: int = 2000, seed: int = 0) -> dict:
    """The 2nd and 98th percentiles of the training imagery, per image band the model
    reads (a sample of pixels from every image)."""
    from ..core.imagery.scaling import PERCENTILES

    rng = np.random.default_rng(seed)
    picked = {name: [] for name in spec.image_bands}
    for sample in samples:
        size = sample.mask.size
        index = rng.choice(size, size=min(per_image, size), replace=False)
        for name in spec.image_bands:
            picked[name].append(sample.sources[name].reshape(-1)[index])
    low, high = zip(*(np.percentile(np.concatenate(v), PERCENTILES) for v in picked.values()))
    return {"low": [round(float(x), 2) for x in low], "high": [round(float(x), 2) for x in high],
            "bands": list(spec.image_bands), "percentiles": list(PERCENTILES)}
