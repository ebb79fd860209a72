"""Detect without QGIS, on one machine or split over a Dask cluster.

Run from the plugin folder (the one holding ``core/``)::

    python -m core detect --input scene.tif --output out/                      # this process
    python -m core detect --input scene.tif --output out/ --scheduler local --workers 2
    python -m core detect --input scene.tif --output out/ --scheduler tcp://10.0.0.5:8786

Writes ``out/probability.tif``, ``out/mask.tif`` and ``out/landslides.gpkg`` (and
``out/set_aside.gpkg`` when the model's object filter sets polygons aside,
``out/uncertainty.tif`` with ``--ensemble --uncertainty``), the same as Detect's: every
option builds the same request (:mod:`core.detect.request`) and runs the same pipeline.
With ``--scheduler`` the raster is cut into ``--tile-size`` tiles, run as Dask tasks and
merged into exactly what one run gives (see :mod:`core.detect.tiling`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .detect.pipeline import DetectOutputs, detect
from .detect.request import DEFAULT_MIN_AREA_M2, PRECISIONS, DetectRequest, Precision, load_model
from .detect.tiling import DEFAULT_TILE_SIZE, cached_model, dask_runner, detect_tiled
from .engine.progress import Progress
from .engine.streaming import DEFAULT_BATCH_SIZE, MODEL_WINDOW, WindowSettings
from .imagery.recipe import InputOptions, model_input
from .imagery.scaling import MODES, ScalingMode
from .io.readers import GdalReader
from .model.catalog import NO_MODEL, bundled_models, ensemble_members
from .model.onnx_model import DEVICES, Device
from .model.spec import IMAGE_BANDS


def _arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("detect", help="landslide probability, mask and polygons of a raster")
    d.add_argument("--input", required=True, help="image any GDAL format (GeoTIFF, VRT, ...)")
    d.add_argument("--output", required=True, help="folder for probability.tif, mask.tif, landslides.gpkg")
    d.add_argument("--model", help="ONNX model (default: the recommended bundled model)")
    d.add_argument("--ensemble", action="store_true", help="average all bundled models")
    d.add_argument("--uncertainty", action="store_true",
                   help="with --ensemble: also write uncertainty.tif (the models' per-pixel standard deviation)")
    d.add_argument("--precision", choices=PRECISIONS, default=Precision.AUTO.value,
                   help="int8: the models' quantized variants, faster on CPUs")
    d.add_argument("--class", dest="class_name", help="multi-class models: the landslide class's name or number")
    d.add_argument("--dem", help="elevation raster, for models that use slope")
    for role in IMAGE_BANDS:
        d.add_argument(f"--{role}", type=int, help=f"{role} band number (default: from band names, else 1, 2, 3)")
    d.add_argument("--scaling", choices=MODES, default=ScalingMode.AUTO.value, help="input scaling (as Detect's)")
    d.add_argument("--scaling-min", type=float, help="manual scaling: the value shown as black")
    d.add_argument("--scaling-max", type=float, help="manual scaling: the value shown as white")
    d.add_argument("--threshold", type=float, help="probability threshold, between 0 and 1 (default: the model's)")
    d.add_argument("--min-area", type=float, default=DEFAULT_MIN_AREA_M2, help="drop polygons smaller than this (m²)")
    d.add_argument("--tta", action="store_true", help="average four flips of every window (4x slower)")
    d.add_argument("--saliency-summary", action="store_true",
                   help="add mean_saliency and boundary_saliency_share to each polygon (runs the saliency graph too)")
    d.add_argument("--no-object-filter", action="store_true",
                   help="keep every polygon (default: those the model's object filter scores as likely false "
                        "alarms go to set_aside.gpkg)")
    d.add_argument("--pixel-outlines", action="store_true",
                   help="polygons follow the pixel edges (default: the staircase smoothed, within half a pixel)")
    d.add_argument("--no-skip-empty", dest="skip_empty", action="store_false",
                   help="run the whole network on every window (default: where the model's presence stage finds "
                        "nothing, its decoder is skipped)")
    d.add_argument("--window", type=int, default=MODEL_WINDOW,
                   help="window size in pixels (default: the model's own patch size)")
    d.add_argument("--overlap", type=int, default=32)
    d.add_argument("--batch", type=int, default=DEFAULT_BATCH_SIZE)
    d.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per task (0: one per core)")
    d.add_argument("--device", choices=DEVICES, default=Device.AUTO.value)
    d.add_argument("--no-match-resolution", dest="match_resolution", action="store_false",
                   help="run at the image's own pixel size even when the model learned at another")
    d.add_argument("--scheduler", help="split into tiles on Dask: 'local' (a LocalCluster here) or a scheduler "
                                       "address such as tcp://10.0.0.5:8786")
    d.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core)")
    d.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE, help="tile side in pixels")
    return parser.parse_args(argv)


def request_from(args: argparse.Namespace) -> DetectRequest:
    """The Detect request the command line asks for."""
    models = bundled_models()
    if args.ensemble:
        if args.model:
            raise ValueError("--ensemble averages the bundled models: leave --model out, or the ensemble.")
        paths = ensemble_members(models)
    elif args.model:
        paths = (args.model,)
    elif models:
        paths = (str(next(iter(models.values()))),)
    else:
        raise ValueError(f"{NO_MODEL}: give your own ONNX model with --model.")
    if args.uncertainty and not args.ensemble:
        raise ValueError("--uncertainty needs --ensemble (it is the ensemble's models' disagreement).")
    # several worker processes on this machine share its cores: one ONNX Runtime thread each
    threads = 1 if args.scheduler == "local" and not args.threads else args.threads
    bands = {role: getattr(args, role) for role in IMAGE_BANDS if getattr(args, role) is not None}
    return DetectRequest(
        paths,
        inputs=InputOptions(bands, args.dem, args.scaling, args.scaling_min, args.scaling_max, args.match_resolution),
        settings=WindowSettings(args.window, args.overlap, args.batch), precision=args.precision,
        class_name=args.class_name, threshold=args.threshold, min_area_m2=args.min_area, tta=args.tta,
        saliency_summary=args.saliency_summary, object_filter=not args.no_object_filter,
        smooth_outlines=not args.pixel_outlines, skip_empty_windows=args.skip_empty, threads=threads,
        device=args.device)


def main(argv=None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    request = request_from(args)
    progress = Progress(info=print, warn=lambda text: print(f"warning: {text}"))
    # with a scheduler, the session the tiles of this process reuse
    model = cached_model(request) if args.scheduler else load_model(request)
    inputs = model_input(request.inputs, model.spec, GdalReader(args.input), progress=progress)
    out = Path(args.output)
    outputs = DetectOutputs(str(out / "probability.tif"), str(out / "mask.tif"), str(out / "landslides.gpkg"),
                            uncertainty=str(out / "uncertainty.tif") if args.uncertainty else None,
                            dropped=str(out / "set_aside.gpkg"))
    if args.scheduler:
        with dask_runner(None if args.scheduler == "local" else args.scheduler, args.workers) as runner:
            result = detect_tiled(request, args.input, inputs, model, outputs, args.tile_size, runner, progress)
    else:
        result = detect(request, inputs, model, outputs, progress=progress)
    print(f"{result.valid_pixels} valid pixels, {result.landslide_pixels} landslide pixels, "
          f"{result.polygon_count} polygons ({result.dropped_count} set aside as likely false alarms) -> {out}")
    return 0


def run(argv=None) -> int | str:
    """:func:`main` as a command: the engine's errors, which say what to fix, become its exit message."""
    try:
        return main(argv)
    except (ValueError, RuntimeError, OSError) as err:
        return f"error: {err}"
