"""Detect's speed and memory with its default settings, against its own ceiling and
against GeoDeep. Prints tables; not a test.

1. **A real scene** (``--scene-mpx``, default 39): Bijie images (the training split's:
   nothing here is scored) packed into one georeferenced 0.8 m raster with 64-px nodata
   gutters, 4,096 px wide, as a mapper's mosaic. Detect runs on it through the engine
   (each run a fresh process, for its own peak memory) with its defaults (the model's
   window, ``PRECISION=auto``: the INT8 variant where one is kept, the presence stage
   skipping empty windows), then without the skipping and in float32, then through
   ``qgis_process``. Beside each: the **ceiling**, a bare ONNX Runtime loop (the run's
   own whole-graph session on a ready batch of the scene's windows, same window and
   batch) over the run's number of windows that hold valid pixels, and where the time
   went (wrapping the engine's own functions, not guessed). The same on a scene of
   landslide-free images only: intact terrain, what most of a real scene is.
2. **GeoDeep** (the headless sibling of Deepness) on a 4,096² crop of that scene, with the
   same network (the model's interop copy, ``python -m training interop``), beside Detect
   on the crop through the command line and ``qgis_process``: seconds and peak memory.
3. ``--sizes``: Detect on generated scenes of those sides, for memory against size.

Timings on shared machines are noisy: the figures that matter are the ratios measured in
one run.

    .venv/bin/python bench/speed.py                     # about 10 min on 2 cores
    .venv/bin/python bench/speed.py --scene-mpx 10 --no-geodeep
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from machine import machine_facts  # noqa: E402
PLUGINS = runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()
from landslide_mapper.core.engine.streaming import DEFAULT_BATCH_SIZE  # noqa: E402
sys.path.insert(0, str(ROOT / "tools"))
WORK = ROOT / "build" / "bench"
BIJIE = ROOT.parent / "shared" / "data" / "bijie"
SCENE_WIDTH, GUTTER, RESOLUTION_M = 4096, 64, 0.8
MPX_TARGET = 400  # the yardstick: minutes for 400 Mpx


def child(job: dict) -> dict:
    """One Detect through the engine, as ``python -m core detect`` runs it, with the time
    spent in each stage measured by wrapping the engine's own functions; then the ceiling."""
    import onnxruntime

    from landslide_mapper.core.detect import pipeline
    from landslide_mapper.core.detect.pipeline import DetectOutputs
    from landslide_mapper.core.detect.request import DetectRequest, load_model
    from landslide_mapper.core.engine.streaming import WindowSettings
    from landslide_mapper.core.imagery.inputs import ModelInput
    from landslide_mapper.core.imagery.recipe import model_input
    from landslide_mapper.core.io.outputs import GeoTiffWriter
    from landslide_mapper.core.io.readers import GdalReader

    spent = {"network": 0.0, "reading": 0.0, "writing": 0.0, "polygons": 0.0}

    def timed(key, function):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        return run

    onnxruntime.InferenceSession.run = timed("network", onnxruntime.InferenceSession.run)
    ModelInput.read = timed("reading", ModelInput.read)
    GeoTiffWriter.write_rows = timed("writing", GeoTiffWriter.write_rows)
    pipeline.polygonize_mask = timed("polygons", pipeline.polygonize_mask)

    from landslide_mapper.core.model import onnx_model

    onnx_model.ALLOW_SPINNING = job["spinning"]
    request = DetectRequest((job["model"],), precision=job["precision"], skip_empty_windows=job["skip_empty"],
                            settings=WindowSettings(0, job["overlap"], job["batch"]))
    model = load_model(request)
    inputs = model_input(request.inputs, model.spec, GdalReader(job["image"]))
    out = job["out"]
    start = time.perf_counter()
    result = pipeline.detect(request, inputs, model, DetectOutputs(f"{out}/p.tif", f"{out}/m.tif", f"{out}/l.gpkg"))
    spent["seconds"] = time.perf_counter() - start
    spent.update(model_file=model.path.name, windows_skipped=result.windows_skipped,
                 windows_decoded=result.windows_decoded, window=request.window_settings(model).window)
    record = dict(spent)  # before the ceiling adds to "network"
    windows = valid_windows(inputs, request.window_settings(model))
    record["windows"] = windows
    record["ceiling_seconds"] = ceiling_seconds_per_window(model, inputs, job["ceiling_windows"],
                                                           record["window"], job["batch"]) * windows
    return record


def valid_windows(inputs, settings) -> int:
    """The windows of the engine's grid that hold a valid pixel: those it runs the model on."""
    from landslide_mapper.core.engine.windows import AxisGrid

    grid = inputs.grid
    gy, gx = AxisGrid(grid.height, settings.window, settings.overlap), AxisGrid(grid.width, settings.window,
                                                                                settings.overlap)
    count = 0
    for row in range(gy.count):
        _, valid = inputs.read(0, gy.start(row), grid.width, settings.window)
        for col in range(gx.count):
            x0 = gx.start(col)
            count += bool(valid[:, max(x0, 0): x0 + settings.window].any())
    return count


def ceiling_seconds_per_window(model, inputs, windows: int, window: int, batch: int) -> float:
    """ONNX Runtime alone: the whole graph's session.run on one ready batch of the scene's
    own windows (the values the engine feeds), ``windows`` windows in all."""
    stack, _ = inputs.read(0, 0, window * batch, window)
    feed = np.stack([stack[:, :, i * window: (i + 1) * window] for i in range(batch)])
    if model.layout == "NHWC":
        feed = np.ascontiguousarray(feed.transpose(0, 2, 3, 1))
    run = model.session.run
    run([model.output_name], {model.input_name: feed})  # warm-up, as the engine's first batch pays it too
    start = time.perf_counter()
    for first in range(0, windows, batch):
        run([model.output_name], {model.input_name: feed[: min(batch, windows - first)]})
    return (time.perf_counter() - start) / windows


# Runs a command and prints its peak RSS. Peak RSS is read from a small launcher's
# children: a child forked straight from this process would report this process's own
# RSS at the fork (Linux keeps the pre-exec high-water mark).
LAUNCHER = r"""
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def measured(command: list[str], json_output: bool = False) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1]) if json_output else {"seconds": wall}
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")][-1]
    result["peak_rss_mib"] = int(peak.split()[1]) / 1024
    return result


def engine_run(image: Path, model: str, out: Path, precision="auto", skip_empty=True, overlap=32, batch=None,
               ceiling_windows=400, spinning=False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    batch = batch or DEFAULT_BATCH_SIZE
    job = {"image": str(image), "model": model, "out": str(out), "precision": precision, "skip_empty": skip_empty,
           "overlap": overlap, "batch": batch, "ceiling_windows": ceiling_windows, "spinning": spinning}
    return measured([sys.executable, __file__, "--child", json.dumps(job)], json_output=True)


def processing_run(image: Path, model: str, out: Path) -> dict:
    """The Processing algorithm with its defaults, headless, as an operations cell runs it."""
    out.mkdir(parents=True, exist_ok=True)
    arguments = [f"INPUT={image}", f"MODEL_FILE={model}", f"OUTPUT_PROBABILITY={out}/p.tif",
                 f"OUTPUT_MASK={out}/m.tif", f"OUTPUT_POLYGONS={out}/l.gpkg"]
    script = (f"source {ROOT}/scripts/qgis_env.sh && exec qgis_process.bin run landslidemapper:detect -- "
              + " ".join(f"'{a}'" for a in arguments))
    return measured(["bash", "-c", script])


def cli_run(image: Path, model: str, out: Path, *options: str) -> dict:
    return measured([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(PLUGINS)!r}]; "
                     "from landslide_mapper.core.cli import run; sys.exit(run(sys.argv[1:]))",
                     "detect", "--input", str(image), "--model", model, "--output", str(out), *options])


def geodeep_run(image: Path, copy: Path) -> dict:
    return measured([sys.executable, "-c", "import sys, geodeep; geodeep.run(sys.argv[1], sys.argv[2], "
                     "output_type='raw')", str(image), str(copy)])


def bijie_scene(path: Path, megapixels: float, landslide_free_only: bool = False) -> Path:
    """Training-split Bijie images packed into one 0.8 m GeoTIFF (nodata 0 in the gutters),
    in index order until the scene holds about ``megapixels``."""
    if path.exists():
        return path
    from osgeo import gdal, osr

    from landslide_mapper.training.datasets import Bijie
    from landslide_mapper.training.evaluate import ValidationMosaic

    dataset = Bijie(BIJIE)
    ids = dataset.split(0.15, 42).train
    if landslide_free_only:
        ids = [i for i in ids if not i.startswith("ls_")]
    chosen, pixels = [], 0
    for image_id in ids:
        sample = dataset.samples([image_id])[0]
        chosen.append(sample)
        pixels += (sample.mask.shape[0] + GUTTER) * (sample.mask.shape[1] + GUTTER)
        if pixels >= megapixels * 1e6:
            break
    mosaic = ValidationMosaic.of(chosen, width=SCENE_WIDTH, gutter=GUTTER).scene
    rgb = np.stack([mosaic.sources[b] for b in ("red", "green", "blue")])
    valid = np.isfinite(rgb).all(axis=0)
    rgb = np.where(valid, np.clip(np.nan_to_num(rgb), 1, 255), 0).astype(np.uint8)  # 0 is nodata only
    path.parent.mkdir(parents=True, exist_ok=True)
    out = gdal.GetDriverByName("GTiff").Create(str(path), rgb.shape[2], rgb.shape[1], 3, gdal.GDT_Byte,
                                               ["TILED=YES", "COMPRESS=DEFLATE"])
    out.SetGeoTransform((500000.0, RESOLUTION_M, 0.0, 3000000.0, 0.0, -RESOLUTION_M))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)  # UTM 48N: Bijie, Guizhou
    out.SetProjection(srs.ExportToWkt())
    for k, name in enumerate(("Red", "Green", "Blue")):
        band = out.GetRasterBand(k + 1)
        band.WriteArray(rgb[k])
        band.SetNoDataValue(0)
        band.SetDescription(name)
    out = None
    return path


def crop(source: Path, path: Path, size: int) -> Path:
    from osgeo import gdal

    if not path.exists():
        gdal.Translate(str(path), str(source), srcWin=[0, 0, size, size], creationOptions=["TILED=YES"])
    return path


def scene_table(scenes: dict[str, Path], model: str) -> None:
    print("| scene | Detect | model file | window | windows (skipped) | seconds | Mpx/s | ceiling s | of ceiling | "
          f"{MPX_TARGET} Mpx min | network s | reading s (overlapped) | writing s | polygons s | rest s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    variants = [("defaults", {}), ("no skipping", {"skip_empty": False}),
                ("no skipping, ORT threads spinning", {"skip_empty": False, "spinning": True}),
                ("float32, no skipping", {"precision": "float32", "skip_empty": False})]
    for name, image in scenes.items():
        from osgeo import gdal

        raster = gdal.Open(str(image))
        mpx = raster.RasterXSize * raster.RasterYSize / 1e6
        for label, options in variants:
            r = engine_run(image, model, WORK / f"out-{image.stem}-{label.replace(' ', '_')}", **options)
            rest = r["seconds"] - r["network"] - r["writing"] - r["polygons"]
            skipped = f" ({r['windows_skipped']:,})" if r["windows_skipped"] else ""
            print(f"| {name} ({mpx:.1f} Mpx) | engine, {label} | {r['model_file']} | {r['window']} | "
                  f"{r['windows']:,}{skipped} | {r['seconds']:.1f} | {mpx / r['seconds']:.2f} | "
                  f"{r['ceiling_seconds']:.1f} | {r['ceiling_seconds'] / r['seconds']:.2f} | "
                  f"{MPX_TARGET / (mpx / r['seconds']) / 60:.1f} | {r['network']:.1f} | {r['reading']:.1f} | "
                  f"{r['writing']:.1f} | {r['polygons']:.1f} | {rest:.1f} | {r['peak_rss_mib']:.0f} |", flush=True)
        r = processing_run(image, model, WORK / f"proc-{image.stem}")
        print(f"| {name} ({mpx:.1f} Mpx) | qgis_process, defaults | | | | {r['seconds']:.1f} | "
              f"{mpx / r['seconds']:.2f} | | | {MPX_TARGET / (mpx / r['seconds']) / 60:.1f} | | | | | | "
              f"{r['peak_rss_mib']:.0f} |", flush=True)


def geodeep_table(scene: Path, model: str, size: int) -> None:
    from landslide_mapper.core.model.catalog import variant
    from landslide_mapper.training.interop import interop_copy

    image = crop(scene, WORK / f"crop{size}.tif", size)
    print(f"\n| {size:,}² crop of the scene | seconds | vs GeoDeep | peak RSS MiB |")
    print("|---|---|---|---|")
    runs = {}
    for precision in ("float32", "int8"):
        source = variant(Path(model), precision)
        if source.is_file():
            copy = interop_copy(source, WORK / f"{source.stem}_geodeep.onnx")
            runs[f"GeoDeep, interop copy of {source.name}"] = geodeep_run(image, copy)
    runs["Detect, command line, defaults"] = cli_run(image, model, WORK / "crop-cli")
    for batch in (8, 2):
        runs[f"Detect, command line, batch {batch}"] = cli_run(image, model, WORK / f"crop-cli{batch}", "--batch",
                                                               str(batch))
    runs["Detect, qgis_process, defaults"] = processing_run(image, model, WORK / "crop-proc")
    # what QGIS itself holds before any algorithm runs: the part of qgis_process's peak that is not Detect's
    runs["qgis_process listing its algorithms (QGIS alone)"] = measured(
        ["bash", "-c", f"source {ROOT}/scripts/qgis_env.sh && exec qgis_process.bin list > /dev/null"])
    base = next(iter(runs.values()))["seconds"]
    for label, r in runs.items():
        print(f"| {label} | {r['seconds']:.1f} | {base / r['seconds']:.2f}x | {r['peak_rss_mib']:.0f} |", flush=True)


def size_table(sizes: list[int], model: str) -> None:
    from make_scene import write_scene

    print("\n| generated scene | seconds | Mpx/s | peak RSS MiB |")
    print("|---|---|---|---|")
    first = None
    for size in sizes:
        scene = WORK / f"scene{size}"
        if not (scene / "image.tif").exists():
            write_scene(scene, size=size, with_truth=False)
        r = engine_run(scene / "image.tif", model, WORK / f"out-generated-{size}", ceiling_windows=0)
        first = first or r["peak_rss_mib"]
        print(f"| {size:,}² | {r['seconds']:.1f} | {size * size / 1e6 / r['seconds']:.2f} | "
              f"{r['peak_rss_mib']:.0f} ({r['peak_rss_mib'] / first:.2f}x) |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="default: the recommended bundled model")
    parser.add_argument("--scene-mpx", type=float, default=39.0, help="the real scene's size")
    parser.add_argument("--no-intact", action="store_true", help="leave out the landslide-free scene")
    parser.add_argument("--no-geodeep", action="store_true")
    parser.add_argument("--crop", type=int, default=4096, help="the GeoDeep comparison's crop side")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="generated scenes, for memory against size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    from landslide_mapper.core.model.catalog import bundled_models

    model = args.model or str(next(iter(bundled_models().values())))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {machine_facts()}")
    print(f"model: {Path(model).name}; Detect's defaults (overlap 32, batch {DEFAULT_BATCH_SIZE})\n")
    scenes = {"Bijie mosaic": bijie_scene(WORK / f"bijie{args.scene_mpx:g}.tif", args.scene_mpx)}
    if not args.no_intact:
        scenes["landslide-free Bijie mosaic"] = bijie_scene(WORK / f"bijie_intact{args.scene_mpx / 3:g}.tif",
                                                            args.scene_mpx / 3, landslide_free_only=True)
    scene_table(scenes, model)
    if not args.no_geodeep:
        geodeep_table(scenes["Bijie mosaic"], model, args.crop)
    if args.sizes:
        size_table(args.sizes, model)


if __name__ == "__main__":
    main()
