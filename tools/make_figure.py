"""Figure for the README: a held-out Bijie image, the bundled model's probability, mask
outline and saliency, all computed through the engine Detect and Saliency use.

    .venv/bin/python tools/make_figure.py [--model models/spatial_attention_unet.onnx] [--ids ls_0123 ...]
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root

from landslide_mapper.core.model.onnx_model import OnnxModel  # noqa: E402
from landslide_mapper.core.saliency import saliency_model_for  # noqa: E402
from landslide_mapper.training.data import RGB  # noqa: E402
from landslide_mapper.training.datasets import Bijie  # noqa: E402
from landslide_mapper.training.evaluate import predict_sample  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "bijie"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "models" / "spatial_attention_unet.onnx"))
    parser.add_argument("--ids", nargs="*")
    parser.add_argument("--out", default=str(ROOT / "docs" / "example.png"))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = OnnxModel(args.model)
    explainer = saliency_model_for(args.model)
    bijie = Bijie(DATA)
    ids = args.ids or [i for i in bijie.split(0.3).test if i.startswith("ls_")][:3]
    samples = bijie.samples(ids)
    fig, axes = plt.subplots(len(samples), 3, figsize=(12, 4 * len(samples)), squeeze=False)
    for row, sample in zip(axes, samples):
        rgb = np.stack([sample.sources[b] for b in RGB], -1).astype(np.uint8)
        prob = predict_sample(model, sample)  # as Detect runs it: windows of the spec's size, overlap 32
        sal = predict_sample(explainer, sample)
        detected = prob >= model.spec.threshold
        row[0].imshow(rgb)
        row[0].contour(sample.mask, levels=[0.5], colors="cyan", linewidths=1.2)
        row[0].contour(detected, levels=[0.5], colors="red", linewidths=1.2)
        row[0].set_title(f"{sample.id}: reference (cyan), detected (red)")
        im = row[1].imshow(prob, cmap="YlOrRd", vmin=0, vmax=1)
        row[1].set_title("landslide probability")
        fig.colorbar(im, ax=row[1], fraction=0.046)
        low, high = np.percentile(sal, [2, 98])
        im = row[2].imshow(sal, cmap="magma", vmin=low, vmax=high)
        row[2].contour(detected, levels=[0.5], colors="white", linewidths=0.8)
        row[2].set_title("saliency (Eq. 11), detected outline")
        fig.colorbar(im, ax=row[2], fraction=0.046)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    Path(args.out).parent.mkdir(exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
