"""Quality benchmark: every bundled model scored on held-out real landslides, run exactly
as Detect runs it, beside the method's published figures.

Data: the Bijie images listed in training/splits/bijie_test.json, which no bundled model
trained or validated on. Each image goes through the streaming engine at native
resolution (the spec's window, overlap 32, the spec's threshold) and is scored as Detect
gives it by default: its polygons (objects of at least MIN_AREA, 100 m², those the
model's object filter sets aside left out). Pixel counts are summed over the images that
hold landslides and over all images; a reference landslide (4-connected region) counts as
found when a kept polygon touches it; a landslide-free image counts as flagged when it
gets a kept polygon (all counted by the one scorer, core/evaluation/metrics.py, as
Evaluate counts). The raw mask's pixel F1 (every pixel over the threshold) is given
beside. Also scored: flip test-time augmentation (``--tta``) and the mean ensemble of the
models given (``--ensemble``, at the mean of their thresholds, no filter: the ensemble
carries none). Every F1 and the recall carry a 95 % bootstrap interval over images (1,000
resamples): on ~100 images a figure moves by several hundredths between samples; with
several models, each one's difference from the first is given with its paired interval
(the same images drawn for both), which is what says whether a change is real. With
``--scene`` the images are packed edge to edge into one raster and run as one scene (each
window sees neighbouring images, not an image mirrored), then scored image by image: the
view that matches a mapper's scene. Prints a Markdown table; not a test.

    .venv/bin/python bench/quality.py                         # bundled models (~1 min each on 2 cores)
    .venv/bin/python bench/quality.py --tta --ensemble        # + flip TTA per model, + mean ensemble
    .venv/bin/python bench/quality.py --models runs/x.onnx --limit 20
    .venv/bin/python bench/quality.py --ensemble --validation    # choosing between models: validation images
    .venv/bin/python bench/quality.py --validation --scene       # ... as one scene (what training selects on)
"""

from __future__ import annotations

import argparse
import platform
import runpy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root

from landslide_mapper.core.detect.request import DEFAULT_MIN_AREA_M2  # noqa: E402
from landslide_mapper.core.model.catalog import bundled_models  # noqa: E402
from landslide_mapper.core.model.onnx_model import OnnxModel  # noqa: E402
from landslide_mapper.training.datasets import Bijie  # noqa: E402
from landslide_mapper.core.evaluation.metrics import bootstrap_intervals  # noqa: E402
from landslide_mapper.core.evaluation.filter_fitting import kept_by  # noqa: E402
from landslide_mapper.training.evaluate import (  # noqa: E402
    WITH_INTERVALS,
    ValidationMosaic,
    detect_objects,
    detect_outcomes,
    detect_scores,
    predict_sample,
    score_probabilities,
)

# The method's paper (own split, R, G, B, brightness and slope, up to 150 epochs):
# test F1 per architecture, and IoU where published.
PAPER = {
    "unet": (0.71, None), "channel_attention_unet": (0.70, None),
    "squeeze_excitation_unet": (0.70, None), "spatial_attention_unet": (0.73, 0.58),
}
COLUMNS = ("f1_landslide_images", "iou_landslide_images", "f1", "precision", "recall")


def row(name: str, scores: dict, raw_f1: float, seconds: float) -> str:
    numbers = " | ".join(f"{scores[k]:.3f}" + (" ({:.2f}-{:.2f})".format(*scores["intervals"][k])
                                                if k in WITH_INTERVALS else "") for k in COLUMNS)
    found = f"{scores['objects_detected']} / {scores['objects_detected'] + scores['objects_missed']}"
    flagged = f"{scores['landslide_free_images_with_detections']} / {scores['landslide_free_images']}"
    return (f"| {name} | {scores['threshold']:g} | {'on' if scores['object_filter'] else '—'} | {numbers} | {found} | "
            f"{scores['false_alarm_objects']} | {flagged} | {raw_f1:.3f} | {seconds:.0f} |")


def scored(probabilities, masks, threshold, object_filter, args) -> dict:
    objects = detect_objects(probabilities, masks, threshold, Bijie.resolution_m, args.min_area)
    return {**detect_scores(objects, threshold, args.min_area, object_filter),
            "outcomes": detect_outcomes(objects, [kept_by(object_filter, o) for o in objects])}


def difference_line(name: str, scores: dict, first: tuple[str, dict]) -> str:
    """The paired bootstrap of this model's scores minus the first model's, on the same images."""
    first_name, first_scores = first
    change = bootstrap_intervals(scores["outcomes"], WITH_INTERVALS, baseline=first_scores["outcomes"])
    parts = [f"{k} {scores[k] - first_scores[k]:+.3f} ({change[k][0]:+.3f} to {change[k][1]:+.3f})"
             for k in WITH_INTERVALS]
    return f"#   {name} minus {first_name}, paired over the same images (95 %): {'; '.join(parts)}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bijie"))
    parser.add_argument("--models", nargs="*", help="ONNX files (default: every bundled model)")
    parser.add_argument("--tta", action="store_true", help="also score flip test-time augmentation")
    parser.add_argument("--ensemble", action="store_true", help="also score the mean of the models")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--window", type=int, help="window size (default: each model's patch size)")
    parser.add_argument("--validation", action="store_true",
                        help="score the validation images instead (those thresholds and filters were fitted on: "
                             "for choosing between models, never for reporting quality)")
    parser.add_argument("--scene", action="store_true",
                        help="run the images packed into one raster, as one scene, then score each image")
    parser.add_argument("--gutter", type=int, default=0,
                        help="with --scene: the images this many pixels apart, nodata between them (a mosaic of "
                             "separate scenes, as the independent set was measured: 64)")
    parser.add_argument("--limit", type=int, help="score only the first N images (quick look)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all cores)")
    parser.add_argument("--whole-network", action="store_true",
                        help="every window through the whole network (Detect's SKIP_EMPTY_WINDOWS off; default: as "
                             "Detect runs, the decoder skipped where a model's presence stage finds nothing)")
    parser.add_argument("--min-area", type=float, default=DEFAULT_MIN_AREA_M2, help="Detect's MIN_AREA (m²)")
    parser.add_argument("--no-object-filter", action="store_true", help="score every polygon (Detect's OBJECT_FILTER off)")
    args = parser.parse_args(argv)

    paths = [Path(p) for p in args.models] if args.models else list(bundled_models().values())
    stems = [p.stem for p in paths]
    # two models of one name (an old and a new default) are told apart by their folder
    label = {p: f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths}
    bijie = Bijie(args.data)
    split = bijie.split(0.15)  # the test ids are pinned: the same whatever the validation share
    ids = split.validation if args.validation else split.test
    samples = bijie.samples(ids[: args.limit] if args.limit else ids)
    masks = [s.mask for s in samples]
    mosaic = ValidationMosaic.of(samples, gutter=args.gutter) if args.scene else None
    which = "validation (thresholds and filters fitted on them)" if args.validation else "held-out"
    print(f"# quality benchmark: {len(samples)} {which} Bijie images "
          f"({sum(bool(m.any()) for m in masks)} with landslides), overlap {args.overlap}, "
          f"window {args.window or 'of the spec'}"
          + (f"; run as one scene of {mosaic.scene.mask.shape[1]} x {mosaic.scene.mask.shape[0]} px"
             + (f" with {args.gutter}-px nodata gutters" if args.gutter else "") if mosaic else
             "; each image alone (borders mirrored)"))
    print(f"# {' '.join(sys.argv)}  |  {platform.node()}, {platform.processor() or platform.machine()}")
    print()
    print(f"# scored as Detect gives it: polygons of at least {args.min_area:g} m² at {Bijie.resolution_m:g} m per pixel"
          f"{'' if args.no_object_filter else ', the object filter on where the model has one'}")
    print()
    print("| model | threshold | object filter | F1 (landslide images, 95 % interval) | IoU (landslide images) | "
          "F1 (all images) | precision | recall | landslides found | false-alarm objects | landslide-free images flagged | "
          "raw mask F1 | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ensemble_probabilities, thresholds, members = None, [], 0
    first, differences = None, []
    for path in paths:
        model = OnnxModel(path, threads=args.threads, skip_empty=not args.whole_network)
        threshold = model.spec.threshold
        variants = [("", False)] + ([(" + flip TTA", True)] if args.tta else [])
        for suffix, tta in variants:
            start = time.perf_counter()
            probabilities = mosaic.cut(predict_sample(model, mosaic.scene, args.overlap, tta=tta, window=args.window)) \
                if mosaic else [predict_sample(model, s, args.overlap, tta=tta, window=args.window) for s in samples]
            seconds = time.perf_counter() - start
            raw = score_probabilities(probabilities, masks, [threshold], args.overlap,
                                      model.spec.patch_size)[threshold]
            object_filter = None if args.no_object_filter else model.spec.object_filter
            scores = scored(probabilities, masks, threshold, object_filter, args)
            print(row(label[path] + suffix, scores, raw["f1"], seconds), flush=True)
            if first is None:
                first = (label[path] + suffix, scores)
            else:
                differences.append(difference_line(label[path] + suffix, scores, first))
            if not tta and not path.stem.endswith("_int8"):  # the ensemble Detect offers: float32 models
                members += 1
                thresholds.append(threshold)
                if ensemble_probabilities is None:
                    ensemble_probabilities = [p.copy() for p in probabilities]
                else:
                    for total, p in zip(ensemble_probabilities, probabilities):
                        total += p
    if args.ensemble and members > 1:
        threshold = round(float(np.mean(thresholds)), 4)
        mean = [p / members for p in ensemble_probabilities]
        raw = score_probabilities(mean, masks, [threshold], args.overlap)[threshold]
        print(row(f"mean of {members} models (ENSEMBLE)", scored(mean, masks, threshold, None, args), raw["f1"], 0),
              flush=True)
    if differences:
        print()
        print("\n".join(differences))
    for name, (f1, iou) in PAPER.items():
        if any(p.stem == name for p in paths):
            print(f"| paper: {name} (other split, with slope; pixel scores) | 0.5 | — | {f1:.2f} | "
                  f"{'—' if iou is None else f'{iou:.2f}'} | — | — | — | — | — | — | — | — |")


if __name__ == "__main__":
    main()
