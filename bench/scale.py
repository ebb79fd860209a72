"""Detect at scale: peak memory vs raster size, and throughput vs a bare ONNX Runtime loop.

Prints a table; not a test (timings on shared machines are noisy, so the figures that
matter are ratios measured in one run). Each Detect run is a fresh subprocess so its
peak RSS is its own.

    .venv/bin/python bench/scale.py                 # 2,000² and 20,000² (about 15 min on 2 cores)
    .venv/bin/python bench/scale.py --sizes 2000 6000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "build" / "plugins"), str(ROOT / "tools"), str(ROOT / "bench")]

WORK = ROOT / "build" / "bench"


def run_detect(image: str, model: str, out_dir: Path, window: int, overlap: int, batch: int) -> dict:
    """Detect in a child process; returns its wall time, peak RSS and pixel counts."""
    code = f"""
import json, sys, time
sys.path[:0] = {[str(ROOT / "build" / "plugins")]!r}
from landslide_mapper.core.engine import DetectOutputs, WindowSettings, detect
from landslide_mapper.core.inputs import ModelInput
from landslide_mapper.core.model import OnnxModel
from landslide_mapper.core.readers import GdalReader
model = OnnxModel({model!r})
inputs = ModelInput(model.spec, GdalReader({image!r}), {{"red": 1, "green": 2, "blue": 3}})
out = DetectOutputs({str(out_dir / "p.tif")!r}, {str(out_dir / "m.tif")!r}, {str(out_dir / "l.gpkg")!r})
start = time.perf_counter()
result = detect(inputs, model, out, WindowSettings({window}, {overlap}, {batch}), min_area_m2=0)
print(json.dumps({{"seconds": time.perf_counter() - start, "valid": result.valid_pixels,
                  "polygons": result.polygon_count}}))
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"detect failed for {image}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def bare_onnx_loop(model_path: str, windows: int, window: int, batch: int) -> float:
    """Seconds for ONNX Runtime alone to run ``windows`` windows in batches of ``batch``."""
    import numpy as np

    from landslide_mapper.core.model import OnnxModel

    model = OnnxModel(model_path)
    x = np.random.default_rng(0).normal(size=(batch, len(model.spec.bands), window, window)).astype(np.float32)
    model.predict(x)  # warm-up, as Detect's first batch also pays it
    start = time.perf_counter()
    for first in range(0, windows, batch):
        model.predict(x[: min(batch, windows - first)])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    from make_scene import write_scene
    from unet_onnx import build_unet

    from landslide_mapper.core.windows import AxisGrid

    WORK.mkdir(parents=True, exist_ok=True)
    model = build_unet(WORK / "unet32.onnx")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.node()} | {os.cpu_count()} cores | {platform.processor() or platform.machine()} | "
          f"Python {platform.python_version()}")
    print(f"model: 4-level U-Net, 32 base filters, 4 bands (random weights); window {args.window}, "
          f"overlap {args.overlap}, batch {args.batch}\n")
    rows = []
    for size in args.sizes:
        scene_dir = WORK / f"scene{size}"
        if not (scene_dir / "image.tif").exists():
            t = time.perf_counter()
            write_scene(scene_dir, size=size, with_truth=False)
            print(f"(generated {size}² scene in {time.perf_counter() - t:.0f} s)")
        result = run_detect(str(scene_dir / "image.tif"), model, WORK / f"out{size}", args.window, args.overlap,
                            args.batch)
        windows = AxisGrid(size, args.window, args.overlap).count ** 2
        bare = bare_onnx_loop(model, windows, args.window, args.batch)
        mpx = size * size / 1e6
        rows.append((size, windows, result["seconds"], bare, mpx, result["peak_rss_mib"], result["polygons"]))
        print(f"{size}²: detect {result['seconds']:.1f} s, bare ONNX loop {bare:.1f} s, "
              f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)

    print("\n| raster | windows | polygons | Detect (engine) Mpx/s | bare ONNX Runtime loop Mpx/s | ratio | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for size, windows, seconds, bare, mpx, rss, polygons in rows:
        print(f"| {size:,}² | {windows:,} | {polygons:,} | {mpx / seconds:.3f} | {mpx / bare:.3f} | {bare / seconds:.2f} "
              f"| {rss:.0f} |")
    if len(rows) > 1:
        print(f"\npeak RSS {rows[-1][0]:,}² / {rows[0][0]:,}²: {rows[-1][5] / rows[0][5]:.2f}x")


if __name__ == "__main__":
    main()
