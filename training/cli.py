"""The training CLI, ``python -m training {train,export,calibrate,quantize,card,interop}``: see --help of each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .data import DEFAULT_BANDS
from .datasets import DatasetError, dataset_at, dataset_from_args, dataset_from_provenance


def _bands(text: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in text.split(",") if b.strip())


def cmd_train(args) -> None:
    """One path for every dataset: the default recipe where the dataset allows it
    (:attr:`~training.datasets.Dataset.campaign`), the paper recipe otherwise."""
    from .train import TrainConfig, train

    dataset = args.dataset
    split = dataset.split(args.val_share, args.seed)
    print(dataset.describe(split))
    if args.recipe == "default" and dataset.campaign:
        return train_campaign_on(args, dataset, split)
    train_set = dataset.patches(split.train, args.negative_share, args.seed)
    val_set = dataset.patches(split.validation, args.negative_share, args.seed)
    print(f"patches: {len(train_set)} training, {len(val_set)} validation")
    config = TrainConfig(architecture=args.arch, bands=args.bands, epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.lr, patience=args.patience, base_filters=args.base_filters,
                         seed=args.seed, max_minutes=args.max_minutes,
                         dataset=dataset.provenance(args.val_share, args.negative_share))
    state = train(train_set, val_set, args.out, config, resume=args.resume, verbose=2 if args.quiet else 1)
    print(json.dumps({"config": asdict(config), "state": state}, indent=1, default=str))


class ProgressLines:
    """``--progress-json``: one JSON object per line on stdout, after every validation and
    at most every ``every`` seconds between: ``step``, ``steps``, ``seconds_left`` (by the
    step rate so far, within ``--max-minutes``), and after a validation ``epoch``,
    ``val_f1`` (one scene) and ``best_f1``. The "Train landslide model" algorithm reads them."""

    def __init__(self, max_minutes: float | None, every: float = 2.0, clock=time.monotonic):
        self.clock, self.every, self.started = clock, every, clock()
        self.deadline = self.started + max_minutes * 60 if max_minutes else None
        self.first_step, self.printed = None, 0.0

    def __call__(self, report: dict) -> None:
        now = self.clock()
        if self.first_step is None:
            self.first_step = (report["step"] - 1, now)  # the first step compiles: the rate counts from it
        if "epoch" not in report and now - self.printed < self.every:
            return
        done, since = report["step"] - self.first_step[0] - 1, now - self.first_step[1]
        left = (report["steps"] - report["step"]) * since / done if done > 0 else None
        if self.deadline is not None:
            left = max(0.0, self.deadline - now) if left is None else min(left, max(0.0, self.deadline - now))
        print(json.dumps({**report, "seconds_left": None if left is None else round(left)}), flush=True)
        self.printed = now


def init_from_model(args) -> None:
    """``--init-model``: start from an exported model's weights, with its architecture, base
    filters, bands and presence head. The weights are the compact ones beside it
    (``<name>.weights.npz``, as ``export --weights`` writes them) or, for a bundled model, the
    checkpoint it is known by in ``training/checkpoints``."""
    from ..core.model.onnx_model import read_spec

    model = Path(args.init_model)
    spec = read_spec(model)
    training = spec.extra.get("training") or {}
    weights = [model.with_suffix(".weights.npz"), Path(__file__).parent / "checkpoints" / f"{spec.name}.weights.npz"]
    found = next((w for w in weights if w.is_file()), None)
    if found is None or not training.get("architecture"):
        sys.exit(f"{model.name}: no weights to start from ({' or '.join(str(w) for w in weights)} missing); only "
                 "models trained by this plugin, exported with their weights, can be fine-tuned")
    args.init_weights, args.arch = str(found), training["architecture"]
    args.base_filters, args.bands = training.get("base_filters", 16), tuple(spec.bands)
    args.no_presence = not training.get("presence", False)
    args.init_architecture = None
    args.patch_size = args.patch_size or spec.patch_size  # the context the model learned


def train_campaign_on(args, dataset, split) -> None:
    """The default recipe: whole images, crops drawn each step (training/campaign.py)."""
    from .campaign import CampaignConfig, train_campaign
    from .sampler import CropMix

    config = CampaignConfig(
        architecture=args.arch, bands=args.bands, base_filters=args.base_filters or 16, presence=not args.no_presence,
        loss=args.loss, batch_size=args.batch_size, patch_size=args.patch_size, mix=CropMix(context=args.context, field_augment=args.field_augment),
        steps=args.steps, epoch_steps=args.epoch_steps,
        peak_learning_rate=args.lr or 2e-3, jit_compile=not args.no_jit, seed=args.seed,
        max_minutes=args.max_minutes, dataset=dataset.provenance(args.val_share))
    state = train_campaign(dataset.samples(split.train), dataset.samples(split.validation), args.out, config,
                           resume=args.resume, init_weights=args.init_weights,
                           init_architecture=args.init_architecture,
                           progress=ProgressLines(args.max_minutes) if args.progress_json else None,
                           init_model=str(Path(args.init_model).resolve()) if args.init_model else None)
    print(json.dumps({k: v for k, v in state.items() if k != "sampler"}, indent=1, default=str))


def cmd_export(args) -> None:
    from .export import export_run

    paths = export_run(args.run, args.out, dataset=args.dataset, check_patches=args.check_patches)
    if args.weights:  # what --init-model starts from
        weights = Path(args.out).with_suffix(".weights.npz")
        weights.write_bytes((Path(args.run) / "best.weights.npz").read_bytes())
        paths.append(weights)
    for p in paths:
        print(f"wrote {p}")


def cmd_calibrate(args) -> None:
    from .calibrate import recalibrate

    for model in args.models:
        for p in recalibrate(model, args.dataset):
            print(f"wrote {p}")


def cmd_quantize(args) -> None:
    from .quantize import quantize

    for model in args.models:
        print(f"wrote {quantize(model, args.dataset, count=args.calibration_windows)}")


def cmd_cascade(args) -> None:
    from .cascade import choose_cut, split_stages

    for model in args.models:
        for p in split_stages(model):
            print(f"wrote {p}")
        choose_cut(model, args.dataset, max_cut=args.max_cut, why_capped=args.why_capped)


def cmd_card(args) -> None:
    from ..core.model.onnx_model import read_spec
    from .card import model_card

    for model in args.models:
        path = Path(model)
        path.with_suffix(".md").write_text(model_card(read_spec(path).to_dict(), path.name))
        print(f"wrote {path.with_suffix('.md')}")


def cmd_interop(args) -> None:
    from .interop import interop_copy

    for model in args.models:
        print(f"wrote {interop_copy(model)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one of the four U-Nets")
    t.add_argument("--data", help="dataset folder (Bijie or Landslide4Sense layout, e.g. ../shared/data/bijie)")
    t.add_argument("--patches", help="or: a patch folder from the 'Create training patches' algorithm")
    t.add_argument("--image", nargs="+", help="or: a georeferenced image (several, with --split-by region) ...")
    t.add_argument("--polygons", help="... with a landslide polygon layer ...")
    t.add_argument("--dem", help="... and optionally a DEM")
    t.add_argument("--polygons-layer", help="the polygons' layer, in a file that holds several")
    t.add_argument("--split-by", choices=("patch", "region"), default="patch",
                   help="--image: validate on the last patches (paper recipe), or on whole regions of the raster, "
                        "by area (default recipe; neighbouring patches cannot leak)")
    t.add_argument("--region-size", type=int, help="--split-by region: the regions' side in pixels (default: about "
                                                   "16 regions, 256 to 1024 px)")
    t.add_argument("--mapped-area", help="--split-by region: polygons of the area the mapper reviewed (default: "
                                         "the whole raster); only regions mostly inside it are used")
    t.add_argument("--mapped-area-layer", help="the mapped area's layer, in a file that holds several")
    t.add_argument("--red", type=int, default=1)
    t.add_argument("--green", type=int, default=2)
    t.add_argument("--blue", type=int, default=3)
    t.add_argument("--arch", choices=("unet", "channel", "se", "spatial"), default="spatial")
    t.add_argument("--bands", type=_bands, default=DEFAULT_BANDS,
                   help="comma-separated model bands (default red,green,blue,brightness)")
    t.add_argument("--out", required=True, help="run folder (checkpoints, spec, log, curves)")
    t.add_argument("--recipe", choices=("default", "paper"), default="default",
                   help="default: AdamW + warm-up/cosine over --steps, balanced loss, fresh crops, hard negatives, "
                        "presence head (Bijie); paper: the method's Adam 5e-5, Tversky + focal Tversky, fixed patches,"
                        " epochs (every other data source trains this way)")
    t.add_argument("--epochs", type=int, default=150, help="paper recipe: epochs")
    t.add_argument("--steps", type=int, default=4000, help="default recipe: length of the learning-rate schedule")
    t.add_argument("--epoch-steps", type=int, default=200, help="default recipe: steps between validations")
    t.add_argument("--loss", choices=("bce_dice", "bce_dice_image", "tversky_balanced", "bce_lovasz", "paper"),
                   default="bce_dice", help="default recipe: the map's loss (bce_lovasz: to fine-tune towards whole "
                                            "objects)")
    t.add_argument("--no-presence", action="store_true", help="default recipe: no presence head")
    t.add_argument("--no-jit", action="store_true", help="default recipe: no XLA compilation of the step")
    t.add_argument("--init-weights", help="default recipe: start from compact weights (a run's best.weights.npz)")
    t.add_argument("--init-model", help="default recipe: start from an exported model (a bundled one, or one "
                   "exported with --weights): its weights, architecture, base filters and bands")
    t.add_argument("--init-architecture", choices=("unet", "channel", "se", "spatial"),
                   help="the architecture the --init-weights belong to, when not --arch: the layers the two "
                        "share are copied, the rest start fresh")
    t.add_argument("--batch-size", type=int,
                   help="default: 16 crops of 128 px, as many pixels in bigger crops (4 of 256)")
    t.add_argument("--patch-size", type=int,
                   help="default recipe: training crops and the model's window in Detect (default: the starting "
                        "model's with --init-model, else 128)")
    t.add_argument("--field-augment", action="store_true",
                   help="default recipe: also jitter ground resolution (0.6-1.5x), colour, haze and nodata collars, "
                        "as other imagery would")
    t.add_argument("--context", choices=("mirror", "mosaic"), default="mirror",
                   help="default recipe: past an image's edge a crop sees the image mirrored, or other training "
                        "images around it, as in a scene")
    t.add_argument("--lr", type=float, help="learning rate (paper: 5e-5; default recipe: peak 2e-3)")
    t.add_argument("--patience", type=int, default=30)
    t.add_argument("--base-filters", type=int, help="paper: 32; default recipe: 16")
    t.add_argument("--val-share", type=float, help="share of images that validate (paper: 0.3; default recipe: 0.15)")
    t.add_argument("--negative-share", type=float, default=0.2,
                   help="share of patches without landslide pixels (the method keeps none)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--max-minutes", type=float, help="stop cleanly after this long (resume later)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    t.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    t.add_argument("--progress-json", action="store_true",
                   help="default recipe: JSON progress lines on stdout (step, steps, seconds_left, val_f1)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="export a run to ONNX (prediction + saliency), spec inside")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True, help="prediction model path, e.g. models/spatial_attention_unet.onnx")
    e.add_argument("--data", help="the run's dataset folder: real patches for the TF/ONNX check, and calibration "
                   "(threshold, object filter, input percentiles, resolution, test scores)")
    e.add_argument("--same-data", action="store_true",
                   help="instead of --data: the dataset the run trained on, as its spec records it (e.g. a raster "
                        "split by region)")
    e.add_argument("--weights", action="store_true",
                   help="also write the compact weights beside the model (<name>.weights.npz): training can start "
                        "from it (--init-model)")
    e.add_argument("--check-patches", type=int, default=8)
    e.set_defaults(func=cmd_export)

    q = sub.add_parser("quantize", help="INT8 variant of exported models (<name>_int8.onnx), calibrated on real patches")
    q.add_argument("models", nargs="+", help="exported prediction models, e.g. models/unet.onnx")
    q.add_argument("--data", required=True, help="dataset folder: calibration patches come from its training images")
    q.add_argument("--calibration-windows", type=int, default=64)
    q.set_defaults(func=cmd_quantize)

    s = sub.add_parser("cascade", help="split models with a presence head in two stages (<name>_presence.onnx, "
                       "<name>_decoder.onnx) and choose on validation where Detect skips the decoder")
    s.add_argument("models", nargs="+", help="exported prediction models and their INT8 variants")
    s.add_argument("--data", required=True, help="the dataset the models were trained on (its validation images)")
    s.add_argument("--max-cut", type=float,
                   help="no cut above this (default: the model's threshold), when imagery beyond the validation "
                        "images loses landslides at a higher one")
    s.add_argument("--why-capped", default="", help="with --max-cut: the evidence, recorded beside the cut")
    s.set_defaults(func=cmd_cascade)

    k = sub.add_parser("calibrate", help="calibrate exported models again on a dataset (what export does with --data)")
    k.add_argument("models", nargs="+", help="exported prediction models")
    k.add_argument("--data", required=True, help="dataset folder (Bijie, Landslide4Sense or a training patch folder)")
    k.set_defaults(func=cmd_calibrate)

    c = sub.add_parser("card", help="rewrite the model card of exported models from the spec inside them")
    c.add_argument("models", nargs="+")
    c.set_defaults(func=cmd_card)

    i = sub.add_parser("interop", help="a copy (<name>_deepness.onnx) the Deepness and GeoDeep tools run as is")
    i.add_argument("models", nargs="+", help="exported prediction models")
    i.set_defaults(func=cmd_interop)

    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            if args.init_model:
                init_from_model(args)
            args.patch_size = args.patch_size or 128
            args.batch_size = args.batch_size or max(1, round(16 * (128 / args.patch_size) ** 2))
            args.dataset = dataset_from_args(args)
            campaign = args.recipe == "default" and args.dataset.campaign
            if args.val_share is None:
                args.val_share = 0.15 if campaign else 0.3
            if not campaign:
                args.lr = args.lr or 5e-5
                args.base_filters = args.base_filters or 32
        elif args.command == "export" and args.same_data:
            spec = json.loads((Path(args.run) / "spec.json").read_text())
            args.dataset = dataset_from_provenance(spec.get("training", {}).get("dataset", {}))
        elif args.command in ("export", "quantize", "calibrate", "cascade"):
            args.dataset = dataset_at(args.data) if args.data else None
    except DatasetError as err:
        sys.exit(str(err))
    args.func(args)

