"""What fine-tuning buys on imagery the bundled default never learned: the bundled default
as it is, against it fine-tuned for a time budget, against a model trained from scratch for
the same budget, all scored on imagery none of them trained on. Prints Markdown tables; not
a test.

**The domain.** Only Bijie *validation* images (``Bijie(path).split(0.15, 42).validation``:
they chose the bundled default's checkpoint, threshold and object filter, but no weight
learned from them; the pinned test images, ``training/splits/bijie_test.json``, are never
touched). Each image is made to look like another sensor's:

- another ground resolution (``--resolution``, default 1.6 m instead of Bijie's 0.8 m): an
  area-average resampling (each new pixel the mean of the 0.8-m pixels it covers, by
  area: a factor-2 block mean at 1.6 m; at other factors a strip under half a new pixel
  at an image's far edges is cropped); a landslide mask pixel is kept where landslide
  pixels cover at least half of it;
- another colour response, per band, on values scaled to 0-1: ``gain * x ** gamma +
  offset`` with red (0.90, 1.20, +0.04), green (1.06, 0.90, 0.00), blue (0.82, 1.10,
  +0.08), then a slight haze: ``(1 - 0.12) * y + 0.12 * airlight`` with airlight (0.70,
  0.74, 0.82), a bluish grey; back to 8 bits (1-255, 0 is nodata).

The validation images are split by image, each class apart (with and without
landslides), shuffled with a fixed seed (``SEED``) and dealt alternately into an
*adaptation* part (fine-tuning; the training CLI splits it by region into training and
validation itself, as "Train landslide model" does) and an *evaluation* part (never
trained on, never used to choose anything). Each part is packed into one georeferenced
GeoTIFF mosaic (UTM 48N, the new pixel size in the geotransform; nodata gutters of
``GUTTER_M`` metres between images, as separate scenes are mosaicked) with its landslide
masks turned into polygons (a GeoPackage) over it: what a mapper would bring.

**The runs**, each for every budget of ``--minutes`` (default 10 and 30), through the
training CLI as "Train landslide model" runs it (``train --image adaptation.tif --polygons
adaptation.gpkg --split-by region --val-share 0.2``, its steps, validation interval and
``--max-minutes`` from the algorithm's own plan for that budget, then ``export --same-data``,
which fits the threshold and object filter on the held-out regions):

- the bundled default (``models/spatial_attention_unet.onnx``) as it is; beside it, the
  same with Detect's resolution matching off (run at the image's own pixels);
- fine-tuned from it (``--init-model``, learning rate 5e-4, as the algorithm does);
- from scratch (``--arch spatial --base-filters 16``, no ``--init-model``).

**The score.** Each model runs over the evaluation mosaic through Detect's own pipeline
(``core.detect.pipeline``, Detect's defaults: its own window, overlap 32, resolution
matching, automatic input scaling, its own threshold; float32 for every model, so the
networks are compared, not the bundled default's INT8 variant), and the probability raster
it writes is cut back into the images and scored as Detect gives it: polygons of at least
``MIN_AREA`` 100 m², those the model's own object filter sets aside left out (as
``bench/quality.py`` scores). F1 and recall carry a 95 % bootstrap interval over the
images, and each model's difference from the bundled default a paired one (the same images
drawn for both), which is what says whether fine-tuning bought anything.

Everything is written under ``--work`` (default ``build/adaptation``): the domain
(``<resolution>m/domain``), the run folders (``runs/``), the exported models (``models/``)
and Detect's outputs (``detect/``). A full run trains 2 x (10 + 30) minutes: about 1.5 hours
on an idle 2-core machine.

    .venv/bin/python bench/adaptation.py                       # full: ~1.5 h on 2 idle cores
    .venv/bin/python bench/adaptation.py --quick               # the plumbing: 8 + 8 images, 0.5 min
    .venv/bin/python bench/adaptation.py --minutes 20 --resolution 2.4
    .venv/bin/python bench/adaptation.py --reuse               # score the models already trained again
"""

from __future__ import annotations

import argparse
import json
import math
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from machine import machine_facts  # noqa: E402
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root

from landslide_mapper.core.detect.request import DEFAULT_MIN_AREA_M2  # noqa: E402
from landslide_mapper.core.imagery.patches import Sample  # noqa: E402
from landslide_mapper.training.datasets import Bijie  # noqa: E402
from landslide_mapper.training.evaluate import ValidationMosaic  # noqa: E402

BIJIE = ROOT.parent / "shared" / "data" / "bijie"
DEFAULT_MODEL = ROOT / "models" / "spatial_attention_unet.onnx"
SEED = 23  # the split of the validation images into adaptation and evaluation
VAL_SHARE = 0.2  # "Train landslide model"'s default share of regions held out
FINE_TUNE_LR = "5e-4"  # what the algorithm fine-tunes with
GUTTER_M = 51.2  # nodata between the images of a mosaic: 64 px at 0.8 m
EPSG = 32648  # UTM 48N: Bijie, Guizhou
#: the other sensor's response per band: gain, gamma, offset on values scaled to 0-1 ...
RESPONSE = {"red": (0.90, 1.20, 0.04), "green": (1.06, 0.90, 0.00), "blue": (0.82, 1.10, 0.08)}
#: ... then haze: this share of each pixel is the airlight
HAZE, AIRLIGHT = 0.12, {"red": 0.70, "green": 0.74, "blue": 0.82}
DOMAIN_VERSION = 1  # bump when the domain's recipe changes: a cached domain is rebuilt
QUICK_IMAGES, QUICK_MINUTES = 8, 0.5
INTERVAL_KEYS = ("f1", "f1_landslide_images", "recall")


# --- the domain -----------------------------------------------------------------------------

def area_weights(n_in: int, factor: float) -> np.ndarray:
    """(n_out, n_in) weights of an area-average resampling along one axis: new pixel j covers
    [j * factor, (j + 1) * factor) in old pixels, and takes each old pixel by the length it
    covers (rows sum to 1)."""
    n_out = max(1, round(n_in / factor))
    edges = np.minimum(np.arange(n_out + 1) * factor, n_in)
    old = np.arange(n_in)
    weights = np.clip(np.minimum(edges[1:, None], old[None, :] + 1) - np.maximum(edges[:-1, None], old[None, :]),
                      0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def resampled(values: np.ndarray, factor: float) -> np.ndarray:
    rows, columns = area_weights(values.shape[0], factor), area_weights(values.shape[1], factor)
    return (rows @ values.astype(np.float64) @ columns.T).astype(np.float32)


def sensor(band: str, values: np.ndarray) -> np.ndarray:
    """Another sensor's colour response and a slight haze, on 8-bit values (0-255 floats out)."""
    gain, gamma, offset = RESPONSE[band]
    x = np.clip(values / 255.0, 0.0, 1.0)
    y = gain * x**gamma + offset
    y = (1 - HAZE) * y + HAZE * AIRLIGHT[band]
    return (np.clip(y, 0.0, 1.0) * 255.0).astype(np.float32)


def other_sensor(sample: Sample, factor: float) -> Sample:
    sources = {band: sensor(band, resampled(sample.sources[band], factor)) for band in RESPONSE}
    mask = (resampled(sample.mask.astype(np.float32), factor) >= 0.5).astype(np.uint8)
    return Sample(sample.id, sources, mask)


def parts(ids, images: int | None) -> dict[str, list[str]]:
    """The validation images dealt alternately into adaptation and evaluation, each class
    apart, after a shuffle with SEED; ``images``: at most that many per part, half of them
    with landslides."""
    rng = np.random.default_rng(SEED)
    dealt = {"adaptation": [], "evaluation": []}
    for with_landslides in (True, False):
        group = sorted(i for i in ids if i.startswith("ls_") == with_landslides)
        group = [group[k] for k in rng.permutation(len(group))]
        take = None if images is None else (math.ceil(images / 2) if with_landslides else images // 2)
        for name, share in (("adaptation", group[0::2]), ("evaluation", group[1::2])):
            dealt[name] += share[:take]
    return dealt


def write_mosaic(samples: list[Sample], resolution: float, tif: Path, gpkg: Path) -> dict:
    """The samples packed into one GeoTIFF (nodata gutters between them) and their landslide
    masks as polygons over it; returns the placements and sizes."""
    from osgeo import gdal, ogr, osr

    gutter = max(1, round(GUTTER_M / resolution))
    area = sum((s.mask.shape[0] + gutter) * (s.mask.shape[1] + gutter) for s in samples)
    width = max(max(s.mask.shape[1] for s in samples) + 2 * gutter, math.ceil(math.sqrt(area)))  # about square
    mosaic = ValidationMosaic.of(samples, width=width, gutter=gutter)
    rgb = np.stack([mosaic.scene.sources[b] for b in RESPONSE])
    valid = np.isfinite(rgb).all(axis=0)
    rgb = np.where(valid, np.clip(np.round(np.nan_to_num(rgb)), 1, 255), 0).astype(np.uint8)  # 0 is nodata only
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    geotransform = (500000.0, resolution, 0.0, 3000000.0, 0.0, -resolution)
    tif.parent.mkdir(parents=True, exist_ok=True)
    out = gdal.GetDriverByName("GTiff").Create(str(tif), rgb.shape[2], rgb.shape[1], 3, gdal.GDT_Byte,
                                               ["TILED=YES", "COMPRESS=DEFLATE"])
    out.SetGeoTransform(geotransform)
    out.SetProjection(srs.ExportToWkt())
    for k, name in enumerate(("Red", "Green", "Blue")):
        band = out.GetRasterBand(k + 1)
        band.WriteArray(rgb[k])
        band.SetNoDataValue(0)
        band.SetDescription(name)
    out = None
    mask = gdal.GetDriverByName("MEM").Create("", rgb.shape[2], rgb.shape[1], 1, gdal.GDT_Byte)
    mask.SetGeoTransform(geotransform)
    mask.SetProjection(srs.ExportToWkt())
    mask.GetRasterBand(1).WriteArray(mosaic.scene.mask)
    if gpkg.exists():
        gpkg.unlink()
    vectors = ogr.GetDriverByName("GPKG").CreateDataSource(str(gpkg))
    layer = vectors.CreateLayer("landslides", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("landslide", ogr.OFTInteger))
    band = mask.GetRasterBand(1)
    gdal.Polygonize(band, band, layer, 0)  # 4-connected, pixels that are 1 only
    polygons = layer.GetFeatureCount()
    vectors = None
    return {"placements": [list(p) for p in mosaic.placements], "width": rgb.shape[2], "height": rgb.shape[1],
            "gutter": gutter, "polygons": polygons, "ids": [s.id for s in samples],
            "with_landslides": sum(bool(s.mask.any()) for s in samples)}


def build_domain(folder: Path, data: Path, resolution: float, images: int | None) -> dict:
    """The adaptation and evaluation mosaics at ``resolution`` (reused when built alike before)."""
    bijie = Bijie(data)
    split = bijie.split(0.15, 42)
    dealt = parts(split.validation, images)
    assert not set(split.test) & {i for ids in dealt.values() for i in ids}  # the pinned test images: never
    recipe = {"version": DOMAIN_VERSION, "resolution_m": resolution, "response": RESPONSE, "haze": HAZE,
              "airlight": AIRLIGHT, "gutter_m": GUTTER_M, "parts": dealt}
    record = folder / "domain.json"
    if record.is_file():
        known = json.loads(record.read_text())
        if known.get("recipe") == json.loads(json.dumps(recipe)) and all(
                (folder / f"{name}.{ext}").is_file() for name in dealt for ext in ("tif", "gpkg")):
            return known
    factor = resolution / Bijie.resolution_m
    domain = {"recipe": recipe}
    for name, ids in dealt.items():
        samples = [other_sensor(s, factor) for s in bijie.samples(ids)]
        domain[name] = write_mosaic(samples, resolution, folder / f"{name}.tif", folder / f"{name}.gpkg")
    record.write_text(json.dumps(domain, indent=1))
    return domain


# --- the runs -------------------------------------------------------------------------------

def training_cli(arguments: list[str], log: Path) -> float:
    """``python -m training ...`` from the plugin folder, its output to ``log``; its minutes."""
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"$ python -m training {' '.join(arguments)}\n")
        out.flush()
        code = subprocess.call([sys.executable, "-m", "training", *arguments], cwd=ROOT, stdout=out,
                               stderr=subprocess.STDOUT)
    if code:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"python -m training {arguments[0]} failed ({code}); the end of {log}:\n{tail}")
    return (time.perf_counter() - start) / 60


def train_and_export(name: str, start: Path | None, minutes: float, domain_folder: Path, work: Path,
                     reuse: bool) -> dict:
    """One run through the training CLI as "Train landslide model" runs it; returns what it did."""
    from landslide_mapper.algorithms.train import plan

    model, run = work / "models" / f"{name}.onnx", work / "runs" / name
    log = work / "runs" / f"{name}.log"
    facts = {"name": name, "model": model, "budget": minutes}
    if reuse and model.is_file():
        facts.update(reused=True, **run_facts(run))
        return facts
    shutil.rmtree(run, ignore_errors=True)
    run.parent.mkdir(parents=True, exist_ok=True)
    model.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    schedule = plan(minutes, 16)
    arguments = ["train", "--image", str(domain_folder / "adaptation.tif"), "--polygons",
                 str(domain_folder / "adaptation.gpkg"), "--split-by", "region", "--val-share", str(VAL_SHARE),
                 "--steps", str(schedule["steps"]), "--epoch-steps", str(schedule["epoch_steps"]),
                 "--max-minutes", str(schedule["max_minutes"]), "--seed", "42", "--out", str(run)]
    arguments += ["--init-model", str(start), "--lr", FINE_TUNE_LR] if start else ["--arch", "spatial",
                                                                                   "--base-filters", "16"]
    if minutes < 5:
        arguments.append("--no-jit")  # as the algorithm: compiling costs more than it saves in a short run
    print(f"# training {name}: {schedule['steps']} steps planned, validation every {schedule['epoch_steps']}, at "
          f"most {schedule['max_minutes']} min (log: {log.relative_to(work)})", file=sys.stderr, flush=True)
    trained = training_cli(arguments, log)
    exported = training_cli(["export", "--run", str(run), "--out", str(model), "--same-data"], log)
    facts.update(reused=False, train_minutes=trained, export_minutes=exported, **run_facts(run))
    return facts


def run_facts(run: Path) -> dict:
    state = run / "state.json"
    if not state.is_file():
        return {}
    state = json.loads(state.read_text())
    return {"steps": state.get("step"), "best_step": state.get("best_step"), "stopped": state.get("stopped")}


# --- the score ------------------------------------------------------------------------------

def detect_probability(model: Path, image: Path, out: Path, match_resolution: bool = True) -> tuple[np.ndarray, dict]:
    """Detect's probability raster of ``image`` (its pipeline, its defaults, float32), and how it ran."""
    from osgeo import gdal

    from landslide_mapper.core.detect import pipeline
    from landslide_mapper.core.detect.pipeline import DetectOutputs
    from landslide_mapper.core.detect.request import DetectRequest, load_model
    from landslide_mapper.core.imagery.recipe import InputOptions, model_input
    from landslide_mapper.core.io.readers import GdalReader
    from landslide_mapper.core.io.resolution import pixel_size_m

    out.mkdir(parents=True, exist_ok=True)
    request = DetectRequest((str(model),), precision="float32",
                            inputs=InputOptions(match_resolution=match_resolution))
    net = load_model(request)
    inputs = model_input(request.inputs, net.spec, GdalReader(str(image)))
    start = time.perf_counter()
    pipeline.detect(request, inputs, net, DetectOutputs(str(out / "probability.tif"), str(out / "mask.tif")))
    seconds = time.perf_counter() - start
    probability = gdal.Open(str(out / "probability.tif")).ReadAsArray()
    ran_at = float(np.mean(pixel_size_m(inputs.grid)))
    return probability, {"spec": net.spec, "seconds": seconds, "ran_at": ran_at,
                         "window": request.window_settings(net).window}


def scored(probabilities, masks, spec, resolution: float) -> dict:
    """As Detect gives it (quality.py's scoring): its threshold, its object filter, MIN_AREA."""
    from landslide_mapper.core.evaluation.filter_fitting import kept_by
    from landslide_mapper.training.evaluate import detect_objects, detect_outcomes, detect_scores

    objects = detect_objects(probabilities, masks, spec.threshold, resolution, DEFAULT_MIN_AREA_M2)
    kept = [kept_by(spec.object_filter, o) for o in objects]
    return {**detect_scores(objects, spec.threshold, DEFAULT_MIN_AREA_M2, spec.object_filter),
            "outcomes": detect_outcomes(objects, kept)}


def reference_masks(folder: Path, placements) -> list[np.ndarray]:
    """The evaluation images' masks as a user's reference gives them: the polygons rasterized
    on the mosaic's grid (pixel centres), cut into the images."""
    from landslide_mapper.core.imagery.patches import inventory_sample

    mask = inventory_sample(str(folder / "evaluation.tif"), str(folder / "evaluation.gpkg"),
                            {"red": 1, "green": 2, "blue": 3}, bands=("red",)).mask
    return [mask[t:t + h, c:c + w] for (t, c, h, w) in placements]


# --- the tables -----------------------------------------------------------------------------

def with_interval(scores: dict, key: str) -> str:
    low, high = scores["intervals"][key]
    return f"{scores[key]:.3f} ({low:.2f}–{high:.2f})"


def score_row(label: str, facts: dict, scores: dict, ran: dict) -> str:
    spec = ran["spec"]
    spent = facts.get("train_minutes")
    spent = "reused" if facts.get("reused") else "—" if spent is None else \
        f"{spent:.1f} + {facts['export_minutes']:.1f}"
    steps = "—" if facts.get("steps") is None else f"{facts['steps']} (best {facts['best_step']})"
    found = f"{scores['objects_detected']} / {scores['objects_detected'] + scores['objects_missed']}"
    flagged = f"{scores['landslide_free_images_with_detections']} / {scores['landslide_free_images']}"
    return (f"| {label} | {facts.get('budget') or '—'} | {spent} | {steps} | {spec.threshold:g} | "
            f"{'on' if spec.object_filter is not None else '—'} | {ran['ran_at']:.2g} m, window {ran['window']} | "
            f"{with_interval(scores, 'f1')} | {with_interval(scores, 'f1_landslide_images')} | "
            f"{scores['precision']:.3f} | {with_interval(scores, 'recall')} | {found} | "
            f"{scores['false_alarm_objects']} | {flagged} | {ran['seconds']:.0f} |")


def difference_row(label: str, scores: dict, baseline: dict) -> str:
    from landslide_mapper.core.evaluation.metrics import bootstrap_intervals

    change = bootstrap_intervals(scores["outcomes"], INTERVAL_KEYS, baseline=baseline["outcomes"])
    cells = [f"{scores[k] - baseline[k]:+.3f} ({change[k][0]:+.3f} to {change[k][1]:+.3f})" for k in INTERVAL_KEYS]
    return f"| {label} | {' | '.join(cells)} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--also", nargs="*", default=[],
                        help="other exported models to score as they are beside the default (e.g. a candidate)")
    parser.add_argument("--minutes", type=float, nargs="*", default=[10.0, 30.0],
                        help="training budgets, each as 'Train landslide model''s MINUTES (training + export)")
    parser.add_argument("--resolution", type=float, default=1.6, help="the other sensor's ground resolution (m)")
    parser.add_argument("--work", default=str(ROOT / "build" / "adaptation"), help="where everything is written")
    parser.add_argument("--data", default=str(BIJIE), help="the Bijie folder")
    parser.add_argument("--images", type=int, help="at most this many images per part, half with landslides")
    parser.add_argument("--quick", action="store_true",
                        help=f"the plumbing only: {QUICK_IMAGES} images per part, a budget of {QUICK_MINUTES} min")
    parser.add_argument("--reuse", action="store_true", help="score the models already exported in --work again")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.minutes = args.images or QUICK_IMAGES, [QUICK_MINUTES]
    if args.resolution < Bijie.resolution_m:
        parser.error(f"--resolution: at least Bijie's own {Bijie.resolution_m:g} m (the domain is resampled down)")

    tag = f"{args.resolution:g}m" + (f"-{args.images}images" if args.images else "")
    work = Path(args.work) / tag
    folder = work / "domain"
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {machine_facts()}")
    started = time.perf_counter()
    domain = build_domain(folder, Path(args.data), args.resolution, args.images)
    adaptation, evaluation = domain["adaptation"], domain["evaluation"]
    print(f"domain ({folder}): Bijie validation images at {args.resolution:g} m (area average of 0.8 m), "
          f"another colour response and haze (see the docstring); adaptation part {len(adaptation['ids'])} images "
          f"({adaptation['with_landslides']} with landslides, {adaptation['polygons']} polygons) in a "
          f"{adaptation['width']} x {adaptation['height']} px mosaic; evaluation part {len(evaluation['ids'])} images "
          f"({evaluation['with_landslides']} with landslides, {evaluation['polygons']} polygons) in a "
          f"{evaluation['width']} x {evaluation['height']} px mosaic; {evaluation['gutter']}-px nodata gutters")
    print()

    runs = [{"name": "bundled default", "model": DEFAULT_MODEL, "label": f"bundled default ({DEFAULT_MODEL.name}), as it is"},
            {"name": "bundled default", "model": DEFAULT_MODEL, "match_resolution": False,
             "label": "bundled default, resolution matching off (at the image's pixels)"}]
    for m in args.also:  # each also at the image's own pixels: does resolution matching cost it too?
        label = f"{Path(m).parent.name}/{Path(m).name}"
        runs += [{"name": Path(m).stem, "model": Path(m), "label": f"{label}, as it is"},
                 {"name": Path(m).stem, "model": Path(m), "match_resolution": False,
                  "label": f"{label}, resolution matching off"}]
    for minutes in args.minutes:
        for kind, start in (("finetuned", DEFAULT_MODEL), ("scratch", None)):
            name = f"{kind}_{minutes:g}min"
            facts = train_and_export(name, start, minutes, folder, work, args.reuse)
            facts["label"] = (f"fine-tuned from the default, {minutes:g} min" if start else
                              f"from scratch (spatial, 16 filters), {minutes:g} min")
            runs.append(facts)

    masks = reference_masks(folder, evaluation["placements"])
    placements = evaluation["placements"]
    print(f"# evaluation part ({len(masks)} images, {sum(bool(m.any()) for m in masks)} with landslides), run through "
          f"Detect's pipeline with its defaults (float32), scored as Detect gives it: polygons of at least "
          f"{DEFAULT_MIN_AREA_M2:g} m² at {args.resolution:g} m per pixel, each model's own threshold and object "
          "filter; in brackets the 95 % bootstrap interval over the images")
    print()
    print("| model | budget (min) | spent (min, training + export) | steps (best) | threshold | object filter | "
          "Detect ran at | F1 (all images) | F1 (landslide images) | precision | recall | landslides found | "
          "false-alarm objects | landslide-free images flagged | Detect s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for k, facts in enumerate(runs):
        probability, ran = detect_probability(facts["model"], folder / "evaluation.tif", work / "detect" / f"run{k}",
                                              facts.get("match_resolution", True))
        probabilities = [probability[t:t + h, c:c + w] for (t, c, h, w) in placements]
        scores = scored(probabilities, masks, ran["spec"], args.resolution)
        results.append((facts["label"], scores))
        print(score_row(facts["label"], facts, scores, ran), flush=True)
    print()
    baseline_label, baseline = results[0]
    print(f"# each minus the {baseline_label.split(',')[0]} as it is, paired over the same images (95 % interval)")
    print()
    print("| model | F1 (all images) | F1 (landslide images) | recall |")
    print("|---|---|---|---|")
    for label, scores in results[1:]:
        print(difference_row(label, scores, baseline))
    print()
    print(f"# {(time.perf_counter() - started) / 60:.1f} min in all")


if __name__ == "__main__":
    main()
