"""Detect without QGIS, on one machine or split over a Dask cluster.

Run from the plugin folder (the one holding ``core/``)::

    python -m core detect --input scene.tif --output out/                      # this process
    python -m core detect --input scene.tif --output out/ --scheduler local --workers 2
    python -m core detect --input scene.tif --output out/ --scheduler tcp://10.0.0.5:8786

Writes ``out/probability.tif``, ``out/mask.tif`` and ``out/landslides.gpkg`` (and
``out/set_aside.gpkg`` when the model's object filter sets polygons aside), the same as
Detect's. With ``--scheduler`` the raster is cut into ``--tile-size`` tiles, run as
Dask tasks and merged into exactly what one run gives (see :mod:`core.detect.tiling`).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from .imagery import scaling
from .model.catalog import NO_MODEL_MESSAGE, bundled_models
from .detect.pipeline import DetectOutputs, detect
from .engine.streaming import WindowSettings
from .model.onnx_model import AUTO_DEVICE, DEVICES
from .io.readers import GdalReader, band_numbers
from .detect.tiling import DEFAULT_TILE_SIZE, DetectJob, cached_model, dask_runner, detect_tiled

ROLES = ("red", "green", "blue", "nir")


def _arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("detect", help="landslide probability, mask and polygons of a raster")
    d.add_argument("--input", required=True, help="image any GDAL format (GeoTIFF, VRT, ...)")
    d.add_argument("--output", required=True, help="folder for probability.tif, mask.tif, landslides.gpkg")
    d.add_argument("--model", help="ONNX model (default: the recommended bundled model)")
    d.add_argument("--dem", help="elevation raster, for models that use slope")
    for role in ROLES:
        d.add_argument(f"--{role}", type=int, help=f"{role} band number (default: from band names, else 1, 2, 3)")
    d.add_argument("--scaling", choices=scaling.MODES, default=scaling.AUTO, help="input scaling (as Detect's)")
    d.add_argument("--threshold", type=float, help="probability threshold (default: the model's)")
    d.add_argument("--min-area", type=float, default=0.0, help="drop polygons smaller than this (m²)")
    d.add_argument("--no-object-filter", action="store_true",
                   help="keep every polygon (default: those the model's object filter scores as likely false "
                        "alarms go to set_aside.gpkg)")
    d.add_argument("--window", type=int, default=128)
    d.add_argument("--overlap", type=int, default=32)
    d.add_argument("--batch", type=int, default=8)
    d.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per task (0: one per core)")
    d.add_argument("--device", choices=[AUTO_DEVICE, *DEVICES], default=AUTO_DEVICE)
    d.add_argument("--no-match-resolution", dest="match_resolution", action="store_false",
                   help="run at the image's own pixel size even when the model learned at another")
    d.add_argument("--scheduler", help="split into tiles on Dask: 'local' (a LocalCluster here) or a scheduler "
                                       "address such as tcp://10.0.0.5:8786")
    d.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core)")
    d.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE, help="tile side in pixels")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models = bundled_models()
    if not args.model and not models:
        raise ValueError(NO_MODEL_MESSAGE)
    model_path = args.model or str(next(iter(models.values())))
    image = GdalReader(args.input)
    given = {role: getattr(args, role) for role in ROLES if getattr(args, role) is not None}
    numbers = band_numbers(image.band_roles(), given)
    settings = WindowSettings(args.window, args.overlap, args.batch)
    # several worker processes on this machine share its cores: one ONNX Runtime thread each
    threads = 1 if args.scheduler == "local" and not args.threads else args.threads
    job = DetectJob(args.input, model_path, numbers, settings, args.dem, None, threads, args.device,
                    args.match_resolution)
    model = cached_model(model_path, threads, args.device)  # the session detect_tiled reuses
    inputs = job.inputs(model)  # checks bands and DEM before anything is read
    if inputs.original is not None:
        print(f"the model learned at {model.spec.resolution_m:g} m per pixel: it runs on the image resampled to "
              f"{inputs.grid.width} x {inputs.grid.height} pixels; outputs on the image's grid")
    # one stretch for the whole raster, computed here and shipped to every tile
    inputs.scaling = scaling.choose_scaling(args.scaling, image, inputs.image_band_numbers, model.spec)
    if inputs.scaling is not None:
        print(f"{'warning: ' if inputs.scaling.guess else ''}input scaling: "
              f"{inputs.scaling.describe(inputs.image_band_names)} ({inputs.scaling.reason})")
    job = replace(job, scaling=inputs.scaling)
    out = Path(args.output)
    outputs = DetectOutputs(str(out / "probability.tif"), str(out / "mask.tif"), str(out / "landslides.gpkg"),
                            dropped=str(out / "set_aside.gpkg"))
    if args.scheduler:
        with dask_runner(None if args.scheduler == "local" else args.scheduler, args.workers) as runner:
            result = detect_tiled(job, outputs, args.threshold, args.min_area, args.tile_size, runner,
                                  object_filter=not args.no_object_filter)
    else:
        result = detect(inputs, model, outputs, settings, args.threshold, args.min_area,
                        object_filter=not args.no_object_filter)
    print(f"{result.valid_pixels} valid pixels, {result.landslide_pixels} landslide pixels, "
          f"{result.polygon_count} polygons ({result.dropped_count} set aside as likely false alarms) -> {out}")
    return 0


def run(argv=None) -> int | str:
    """:func:`main` as a command: the engine's errors, which say what to fix, become its exit message."""
    try:
        return main(argv)
    except (ValueError, RuntimeError, OSError) as err:
        return f"error: {err}"
