"""Detect and Saliency speed and memory at scale, against the hardware's ceiling. Prints tables.

For each generated scene (RGB, 1 m) and the default bundled model, in one run:
- end-to-end throughput through the engine (core.detect.pipeline.detect / core.saliency.saliency,
  each in a fresh process so its peak RSS is its own) and through the Processing
  algorithm (qgis_process, QGIS start-up included);
- the ceiling: a bare ONNX Runtime loop (session.run on a ready batch of the scene's
  windows, same window and batch size, the run's own session, right after the run) over
  the run's number of windows (over ``--ceiling-windows`` of them and scaled, for big
  scenes: its rate per window is constant);
- where the rest goes: time in the network vs reading (in a helper thread, overlapped
  with the network), writing rasters, polygonizing, and the remainder (batching,
  blending, waiting).

Not a test: timings on shared machines are noisy, so the figures that matter are the
ratios measured in one run.

    .venv/bin/python bench/speed.py                           # about 45 min on 2 cores
    .venv/bin/python bench/speed.py --sizes 2000 --processing-sizes 2000 --saliency-sizes 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()
sys.path.insert(0, str(ROOT / "tools"))
WORK = ROOT / "build" / "bench"

# Runs in a child process: one Detect (or Saliency) through the engine, with the time
# spent in each stage measured by wrapping the engine's own functions.
CHILD = r"""
import json, sys, threading, time
sys.path[:0] = [{plugins!r}]
from landslide_mapper.core import saliency as saliency_module
from landslide_mapper.core.detect import pipeline
from landslide_mapper.core.detect.pipeline import DetectOutputs
from landslide_mapper.core.detect.request import DetectRequest
from landslide_mapper.core.io.outputs import GeoTiffWriter
from landslide_mapper.core.engine.streaming import WindowSettings
from landslide_mapper.core.imagery.inputs import ModelInput
from landslide_mapper.core.model.onnx_model import OnnxModel
from landslide_mapper.core.io.readers import GdalReader

spent = {{"network": 0.0, "reading": 0.0, "writing": 0.0, "polygons": 0.0}}
def timed(key, function):
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start
    return run

import onnxruntime
onnxruntime.InferenceSession.run = timed("network", onnxruntime.InferenceSession.run)
ModelInput.read = timed("reading", ModelInput.read)
GeoTiffWriter.write_rows = timed("writing", GeoTiffWriter.write_rows)
pipeline.polygonize_mask = timed("polygons", pipeline.polygonize_mask)
saliency_module.polygonize_mask = timed("polygons", saliency_module.polygonize_mask)

settings = WindowSettings({window}, {overlap}, {batch})
image = GdalReader({image!r})
out = {out!r}
if {task!r} == "detect":
    model = OnnxModel({model!r})
    inputs = ModelInput(model.spec, image, {{"red": 1, "green": 2, "blue": 3}})
    start = time.perf_counter()
    request = DetectRequest(({model!r},), settings=settings, min_area_m2=0.0)
    pipeline.detect(request, inputs, model, DetectOutputs(out + "/p.tif", out + "/m.tif", out + "/l.gpkg"))
else:
    model = saliency_module.saliency_model_for({model!r})
    inputs = ModelInput(model.spec, image, {{"red": 1, "green": 2, "blue": 3}})
    start = time.perf_counter()
    saliency_module.saliency(inputs, model, out + "/s.tif", settings, out + "/z.gpkg")
spent["seconds"] = time.perf_counter() - start
result = dict(spent)  # the stages of the run, before the ceiling loop below adds to "network"
# the ceiling: the same session, right after the run, on a batch of the scene's own windows
sys.path.insert(0, {bench!r})
from speed import ceiling_seconds_per_window
if {ceiling_windows}:
    result["ceiling_per_window"] = ceiling_seconds_per_window(model, {image!r}, {ceiling_windows}, {window}, {batch})
print(json.dumps(result))
"""


def child_run(task: str, image: str, model: str, out: Path, window: int, overlap: int, batch: int,
              ceiling_windows: int = 2000) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    code = CHILD.format(plugins=str(PLUGINS), task=task, image=image, model=model, out=str(out), window=window,
                        overlap=overlap, batch=batch, bench=str(ROOT / "bench"), ceiling_windows=ceiling_windows)
    return _measured([sys.executable, "-c", code], json_output=True)


def processing_run(task: str, image: str, model: str, out: Path, window: int, overlap: int, batch: int) -> dict:
    """The Processing algorithm, headless, as an operations cell runs it."""
    out.mkdir(parents=True, exist_ok=True)
    common = [f"INPUT={image}", f"MODEL_FILE={model}", f"WINDOW={window}", f"OVERLAP={overlap}", f"BATCH_SIZE={batch}"]
    if task == "detect":
        outputs = [f"OUTPUT_PROBABILITY={out}/p.tif", f"OUTPUT_MASK={out}/m.tif", f"OUTPUT_POLYGONS={out}/l.gpkg"]
    else:
        outputs = [f"OUTPUT_SALIENCY={out}/s.tif", f"OUTPUT_ZONES={out}/z.gpkg"]
    script = (f"source {ROOT}/scripts/qgis_env.sh && exec qgis_process.bin run landslidemapper:{task} -- "
              + " ".join(f"'{a}'" for a in common + outputs))
    start = time.perf_counter()
    result = _measured(["bash", "-c", script])
    result["seconds"] = time.perf_counter() - start
    return result


# Runs a command and prints its peak RSS. Peak RSS is read from a small launcher's
# children: a child forked straight from this process would report this process's own
# RSS at the fork (Linux keeps the pre-exec high-water mark), e.g. the scene generator's.
LAUNCHER = r"""
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _measured(command: list[str], json_output: bool = False) -> dict:
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1]) if json_output else {}
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")][-1]
    result["peak_rss_mib"] = int(peak.split()[1]) / 1024
    return result


def ceiling_seconds_per_window(model, image: str, windows: int, window: int, batch: int) -> float:
    """ONNX Runtime alone: session.run on one ready batch of the scene's own windows
    (the same values the engine feeds), ``windows`` windows in all."""
    import numpy as np
    from landslide_mapper.core.imagery.inputs import ModelInput
    from landslide_mapper.core.io.readers import GdalReader

    batch = model.fixed_batch or batch  # the saliency graph takes a fixed batch
    stack, _ = ModelInput(model.spec, GdalReader(image), {"red": 1, "green": 2, "blue": 3}).read(
        0, 0, window * batch, window)
    feed = np.stack([stack[:, :, i * window : (i + 1) * window] for i in range(batch)])
    if model.layout == "NHWC":
        feed = np.ascontiguousarray(feed.transpose(0, 2, 3, 1))
    run = model.session.run
    run([model.output_name], {model.input_name: feed})  # warm-up, as the engine's first batch pays it too
    start = time.perf_counter()
    for first in range(0, windows, batch):
        run([model.output_name], {model.input_name: feed[: min(batch, windows - first)]})
    return (time.perf_counter() - start) / windows


def machine_facts() -> str:
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.node()} | {cpu} | {os.cpu_count()} cores | Python {platform.python_version()} | "
            f"ONNX Runtime {onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000], help="engine Detect scenes (px)")
    parser.add_argument("--processing-sizes", type=int, nargs="*", default=[2000, 8000],
                        help="scenes also run through the Processing algorithm")
    parser.add_argument("--saliency-sizes", type=int, nargs="*", default=[2000], help="scenes for Saliency")
    parser.add_argument("--model", default=None, help="default: the recommended bundled model")
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--ceiling-windows", type=int, default=2000)
    parser.add_argument("--window-study", type=int, nargs="*", default=[128, 256, 512],
                        help="engine Detect on the smallest scene at each window size, same overlap")
    args = parser.parse_args()

    from landslide_mapper.core.engine.windows import AxisGrid
    from landslide_mapper.core.model.catalog import bundled_models
    from make_scene import write_scene

    model_path = args.model or str(next(iter(bundled_models().values())))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {machine_facts()}")
    print(f"model: {Path(model_path).name}; window {args.window}, overlap {args.overlap}, batch {args.batch}")
    grid = AxisGrid(1000, args.window, args.overlap)
    print(f"overlap overhead: each pixel goes through the network {(args.window / grid.stride) ** 2:.2f} times "
          f"(window {args.window} every {grid.stride} px)\n")
    rows = []
    plan = sorted({*args.sizes, *args.processing_sizes, *args.saliency_sizes})
    for size in plan:
        scene = WORK / f"scene{size}"
        if not (scene / "image.tif").exists():
            t = time.perf_counter()
            write_scene(scene, size=size, with_truth=False)
            print(f"(generated the {size:,}² scene in {time.perf_counter() - t:.0f} s)", flush=True)
        image = str(scene / "image.tif")
        windows = AxisGrid(size, args.window, args.overlap).count ** 2
        for task, sizes in (("detect", args.sizes), ("saliency", args.saliency_sizes)):
            if size not in sizes and not (task == "detect" and size in args.processing_sizes):
                continue
            settings = (args.window, args.overlap, args.batch)
            engine = child_run(task, image, model_path, WORK / f"out-{task}-{size}", *settings,
                               min(windows, args.ceiling_windows))
            ceiling = engine["ceiling_per_window"] * windows
            runs = [("engine", engine)] if size in sizes else []
            if task == "detect" and size in args.processing_sizes:
                runs.append(("Processing (qgis_process)",
                             processing_run(task, image, model_path, WORK / f"proc-{task}-{size}", *settings)))
            for path, r in runs:
                rows.append((task, size, windows, path, r, ceiling))
                print(f"{task} {size:,}² via {path}: {r['seconds']:.1f} s (ceiling {ceiling:.1f} s), "
                      f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)

    print("\n| task | raster | windows | via | seconds | Mpx/s | ceiling Mpx/s | of ceiling | network s | "
          "reading s (overlapped) | writing s | polygons s | rest s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task, size, windows, path, r, ceiling in rows:
        mpx = size * size / 1e6
        stages = ["network", "reading", "writing", "polygons"]
        if "network" in r:
            rest = r["seconds"] - r["network"] - r["writing"] - r["polygons"]
            cells = " | ".join(f"{r[k]:.1f}" for k in stages) + f" | {rest:.1f}"
        else:
            cells = " | ".join("–" for _ in range(5))
        print(f"| {task} | {size:,}² | {windows:,} | {path} | {r['seconds']:.1f} | {mpx / r['seconds']:.3f} | "
              f"{mpx / ceiling:.3f} | {ceiling / r['seconds']:.2f} | {cells} | {r['peak_rss_mib']:.0f} |")
    if args.window_study:
        size = min(plan)
        image = str(WORK / f"scene{size}" / "image.tif")
        print(f"\n| window (overlap {args.overlap}) | windows | Detect (engine) s on {size:,}² | Mpx/s | vs {args.window} |")
        print("|---|---|---|---|---|")
        base = None
        for window in args.window_study:
            r = child_run("detect", image, model_path, WORK / f"out-window{window}", window, args.overlap, args.batch,
                          ceiling_windows=0)
            base = base or r["seconds"]
            count = AxisGrid(size, window, args.overlap).count ** 2
            print(f"| {window} | {count:,} | {r['seconds']:.1f} | {size * size / 1e6 / r['seconds']:.3f} | "
                  f"{base / r['seconds']:.2f}x |", flush=True)
    detect_engine = [(size, r) for task, size, _, path, r, _ in rows if task == "detect" and path == "engine"]
    if len(detect_engine) > 1:
        (small, a), (large, b) = detect_engine[0], detect_engine[-1]
        print(f"\nDetect peak RSS {large:,}² / {small:,}²: {b['peak_rss_mib'] / a['peak_rss_mib']:.2f}x "
              f"({(large / small) ** 2:.0f}x the pixels)")


if __name__ == "__main__":
    main()
