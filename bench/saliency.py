"""Saliency vs Detect throughput for a model with both graphs, through the engine and as
bare ONNX Runtime loops, on a generated scene, in one run. Prints a table.

    .venv/bin/python bench/saliency.py [--model models/spatial_attention_unet.onnx] [--size 1024]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "build" / "plugins"), str(ROOT / "tools")]

from landslide_mapper.core.engine import WindowSettings, predict_raster  # noqa: E402
from landslide_mapper.core.inputs import ModelInput  # noqa: E402
from landslide_mapper.core.model import OnnxModel  # noqa: E402
from landslide_mapper.core.readers import GdalReader  # noqa: E402
from landslide_mapper.core.saliency import saliency_model_for  # noqa: E402
from landslide_mapper.core.windows import AxisGrid  # noqa: E402


def engine_seconds(model, image, settings):
    inputs = ModelInput(model.spec, GdalReader(image), {"red": 1, "green": 2, "blue": 3})
    start = time.perf_counter()
    predict_raster(inputs, model.predict, settings, lambda *_: None)
    return time.perf_counter() - start


def bare_seconds(model, windows, settings):
    x = np.random.default_rng(0).normal(size=(settings.batch_size, len(model.spec.bands), settings.window,
                                              settings.window)).astype(np.float32)
    model.predict(x)
    start = time.perf_counter()
    for first in range(0, windows, settings.batch_size):
        model.predict(x[: min(settings.batch_size, windows - first)])
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "spatial_attention_unet.onnx"))
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    from make_scene import write_scene

    scene = ROOT / "build" / "bench" / f"scene{args.size}"
    if not (scene / "image.tif").exists():
        write_scene(scene, size=args.size, with_truth=False)
    image = str(scene / "image.tif")
    prediction, explainer = OnnxModel(args.model), saliency_model_for(args.model)
    settings = WindowSettings(prediction.spec.patch_size, 32, 8)
    windows = AxisGrid(args.size, settings.window, settings.overlap).count ** 2
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.node()} | {os.cpu_count()} cores | {platform.machine()} | model {Path(args.model).name}")
    print(f"scene {args.size}² px, {windows} windows of {settings.window} px, overlap {settings.overlap}\n")
    print("| graph | engine patches/s | bare ORT loop patches/s | engine Mpx/s |")
    print("|---|---|---|---|")
    for name, model in (("Detect (prediction)", prediction), ("Saliency (gradient)", explainer)):
        engine, bare = engine_seconds(model, image, settings), bare_seconds(model, windows, settings)
        print(f"| {name} | {windows / engine:.1f} | {windows / bare:.1f} | {args.size ** 2 / 1e6 / engine:.3f} |")


if __name__ == "__main__":
    main()
