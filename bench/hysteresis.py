"""Hysteresis objects against the plain threshold, on the validation images run as one scene
(the models issue's item 3: "hysteresis objects in Detect if validation says so"). Seeds are
the pixels at the model's threshold; each grows over the 4-connected pixels above a lower
one. Scored as Detect gives it (polygons of at least 100 m², the object filter on and off),
each lower bound paired against the plain threshold. Prints a Markdown table; not a test.

    .venv/bin/python bench/hysteresis.py            # the default model's INT8 variant, ~1 min
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (puts the plugin on the path)
from landslide_mapper.core.evaluation.metrics import label_objects  # noqa: E402


def grown(probability: np.ndarray, threshold: float, low: float) -> np.ndarray:
    """The probability with every region above ``low`` that holds a seed (a pixel at
    ``threshold``) lifted to at least ``threshold`` and every other pixel held below it, so
    that Detect's threshold draws the hysteresis objects; a drawn pixel keeps its value
    where it was above the threshold (the object filter reads them)."""
    values = np.nan_to_num(probability)
    regions, _ = label_objects(values >= low)
    seeded = np.unique(regions[values >= threshold])
    keep = np.isin(regions, seeded[seeded > 0])
    out = np.where(keep, np.maximum(probability, threshold), np.minimum(probability, np.nextafter(threshold, 0)))
    return np.where(np.isnan(probability), probability, out).astype(np.float32)


def raw_f1(probabilities, masks, threshold: float) -> float:
    """Pixel F1 of every pixel drawn (no minimum area, no filter)."""
    return quality.score_probabilities(probabilities, masks, [threshold])[threshold]["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(quality.ROOT / "models" / "spatial_attention_unet_int8.onnx"))
    parser.add_argument("--lows", type=float, nargs="+", default=[0.6, 0.5, 0.4, 0.3])
    parser.add_argument("--data", default=str(quality.ROOT.parent / "shared" / "data" / "bijie"))
    args = parser.parse_args()
    options = types.SimpleNamespace(min_area=quality.DEFAULT_MIN_AREA_M2)
    bijie = quality.Bijie(args.data)
    samples = bijie.samples(bijie.split(0.15).validation)
    masks = [s.mask for s in samples]
    mosaic = quality.ValidationMosaic.of(samples)
    model = quality.OnnxModel(args.model, skip_empty=True)
    threshold = model.spec.threshold
    probabilities = mosaic.cut(quality.predict_sample(model, mosaic.scene, 32))
    print(f"# {Path(args.model).name} on {len(samples)} validation images as one scene; threshold {threshold:g}\n")
    print("| objects | threshold | object filter | F1 (landslide images, 95 % interval) | IoU (landslide images) | "
          "F1 (all images) | precision | recall | landslides found | false-alarm objects | "
          "landslide-free images flagged | raw mask F1 | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    differences = []
    for object_filter in (model.spec.object_filter, None):
        plain = ("plain threshold", quality.scored(probabilities, masks, threshold, object_filter, options))
        print(quality.row("plain threshold", plain[1], raw_f1(probabilities, masks, threshold), 0), flush=True)
        for low in args.lows:
            name = f"grown to {low:g}{'' if object_filter is not None else ', filter off'}"
            drawn = [grown(p, threshold, low) for p in probabilities]
            scores = quality.scored(drawn, masks, threshold, object_filter, options)
            print(quality.row(name, scores, raw_f1(drawn, masks, threshold), 0), flush=True)
            differences.append(quality.difference_line(name, scores, plain))
    print()
    print("\n".join(differences))


if __name__ == "__main__":
    main()
