"""The training CLI, ``python -m training {train,export,calibrate,quantize,card,interop}``: see --help of each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .data import DEFAULT_BANDS
from .datasets import DatasetError, dataset_at, dataset_from_args, dataset_from_provenance
from .recipes import RECIPES, DefaultRecipe, PaperRecipe, RecipeError
from .sampler import CropMix


def _bands(text: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in text.split(",") if b.strip())


def cmd_train(args) -> None:
    """One trainer for every recipe and dataset: the default recipe draws its crops from the
    dataset's samples, the paper recipe trains on its fixed patches."""
    from .campaign import train_campaign

    dataset, config = args.dataset, args.config
    split = dataset.split(args.val_share, args.seed)
    print(dataset.describe(split))
    if isinstance(config, PaperRecipe):
        train_samples = dataset.patch_samples(split.train, config.negative_share, args.seed)
        val_samples = dataset.patch_samples(split.validation, config.negative_share, args.seed)
        print(f"patches: {len(train_samples)} training, {len(val_samples)} validation")
    else:
        train_samples, val_samples = dataset.samples(split.train), dataset.samples(split.validation)
    try:
        state = train_campaign(train_samples, val_samples, args.out, config, resume=args.resume,
                               init_weights=args.init_weights, init_architecture=args.init_architecture,
                               log=(lambda _line: None) if args.quiet else print,
                               progress=ProgressLines(args.max_minutes) if args.progress_json else None,
                               init_model=str(Path(args.init_model).resolve()) if args.init_model else None)
    except RecipeError as err:
        sys.exit(str(err))
    print(json.dumps({k: v for k, v in state.items() if k != "sampler"}, indent=1, default=str))


#: options only one recipe reads: given with the other recipe, the command refuses rather than ignore them
RECIPE_OPTIONS = {
    "paper": ("epochs", "patience"),
    "default": ("steps", "epoch_steps", "loss", "no_presence", "init_weights", "init_model", "init_architecture",
                "patch_size", "field_augment", "context", "bottleneck_dilations", "copy_paste"),
}


def refuse_other_recipes_options(args) -> None:
    """Exit with a message when an option of the other recipe was given."""
    for recipe, options in RECIPE_OPTIONS.items():
        given = [f"--{o.replace('_', '-')}" for o in options if getattr(args, o) not in (None, False)]
        if recipe != args.recipe and given:
            sys.exit(f"{', '.join(given)}: {'an option' if len(given) == 1 else 'options'} of the {recipe} recipe, "
                     f"and this run uses the {args.recipe} recipe; add --recipe {recipe}, or leave "
                     f"{'it' if len(given) == 1 else 'them'} out")


def recipe_config(args, dataset) -> DefaultRecipe | PaperRecipe:
    """The recipe's settings: what the command line gives, the recipe's defaults otherwise."""
    common = dict(architecture=args.arch, bands=args.bands, batch_size=args.batch_size, jit_compile=not args.no_jit,
                  seed=args.seed, max_minutes=args.max_minutes, **_given(base_filters=args.base_filters))
    if args.recipe == PaperRecipe.name:
        return PaperRecipe(**common, negative_share=args.negative_share,
                           dataset=dataset.provenance(args.val_share, args.negative_share),
                           **_given(epochs=args.epochs, learning_rate=args.lr, patience=args.patience))
    mix = CropMix(field_augment=args.field_augment, **_given(context=args.context, copy_paste=args.copy_paste))
    return DefaultRecipe(**common, presence=not args.no_presence, patch_size=args.patch_size, mix=mix,
                         dataset=dataset.provenance(args.val_share),
                         **_given(loss=args.loss, steps=args.steps, epoch_steps=args.epoch_steps,
                                  peak_learning_rate=args.lr, bottleneck_dilations=args.bottleneck_dilations and
                                  tuple(args.bottleneck_dilations)))


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


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
    args.base_filters, args.bands = training.get("base_filters", DefaultRecipe.base_filters), tuple(spec.bands)
    args.no_presence = not training.get("presence", False)
    args.bottleneck_dilations = args.bottleneck_dilations or training.get("bottleneck_dilations")
    args.init_architecture = None
    args.patch_size = args.patch_size or spec.patch_size  # the context the model learned


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


def cmd_rewrite(args) -> None:
    import onnx

    from .export import PREDICTION_TOLERANCE
    from .graph_rewrites import largest_difference, upsampling_as_depth_to_space

    for model in args.models:
        proto = onnx.load(model)
        before = onnx.ModelProto()
        before.CopyFrom(proto)  # the original, to check the rewrite against
        rewritten = upsampling_as_depth_to_space(proto)
        if rewritten:
            onnx.checker.check_model(proto)
            difference = largest_difference(before, proto)
            if difference > PREDICTION_TOLERANCE:  # not the graph an export writes: leave it as it is
                sys.exit(f"{model}: left unchanged: the rewritten graph differs from it by {difference:.2g}")
            onnx.save(proto, model)
        print(f"{model}: {rewritten} upsampling layers rewritten" + ("; quantize it again" if rewritten else ""))


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
                   help="--image: cut into patches once, the last ones validate; or split by area into regions, "
                        "whole regions validate (neighbouring patches cannot leak; what 'Train landslide model' does)")
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
    default, paper = DefaultRecipe, PaperRecipe  # the recipes' defaults, as the help states them
    t.add_argument("--recipe", choices=tuple(RECIPES), default=default.name,
                   help=f"default: AdamW + warm-up/cosine over --steps, {default.loss} loss, crops drawn afresh from "
                        "the dataset's images (or patches), hard negatives, presence head, validation as Detect runs;"
                        f" paper: the method's Adam {paper.learning_rate:g}, Tversky + focal Tversky, fixed patches, "
                        "epochs, early stopping. Both train on every dataset; an option of the other recipe is refused")
    t.add_argument("--epochs", type=int, help=f"paper recipe: at most this many epochs (default {paper.epochs})")
    t.add_argument("--patience", type=int, help=f"paper recipe: epochs without a better validation loss before "
                                                f"stopping (default {paper.patience}; the learning rate is multiplied "
                                                f"by {paper.lr_factor:g} after {paper.lr_patience})")
    t.add_argument("--steps", type=int,
                   help=f"default recipe: length of the learning-rate schedule (default {default.steps})")
    t.add_argument("--epoch-steps", type=int,
                   help=f"default recipe: steps between validations (default {default.epoch_steps})")
    t.add_argument("--loss", choices=("bce_dice", "bce_dice_image", "tversky_balanced", "bce_lovasz", "paper"),
                   help=f"default recipe: the map's loss (default {default.loss}; bce_lovasz: to fine-tune towards "
                        "whole objects)")
    t.add_argument("--no-presence", action="store_true", help="default recipe: no presence head")
    t.add_argument("--no-jit", action="store_true", help="no XLA compilation of the training step")
    t.add_argument("--init-weights", help="default recipe: start from compact weights (a run's best.weights.npz)")
    t.add_argument("--init-model", help="default recipe: start from an exported model (a bundled one, or one "
                   "exported with --weights): its weights, architecture, base filters and bands")
    t.add_argument("--init-architecture", choices=("unet", "channel", "se", "spatial"),
                   help="default recipe: the architecture the --init-weights belong to, when not --arch: the layers "
                        "the two share are copied, the rest start fresh")
    t.add_argument("--batch-size", type=int,
                   help=f"default recipe: {default.batch_size} crops of {default.patch_size} px, as many pixels in "
                        f"bigger crops (4 of 256); paper: {paper.batch_size} patches")
    t.add_argument("--patch-size", type=int,
                   help="default recipe: training crops and the model's window in Detect (default: the starting "
                        f"model's with --init-model, else {default.patch_size}); crops of images smaller than this are "
                        "mirrored past their edges (or see other training images: --context mosaic)")
    t.add_argument("--field-augment", action="store_true",
                   help="default recipe: also jitter ground resolution (0.6-1.5x), colour, haze and nodata collars, "
                        "as other imagery would")
    t.add_argument("--copy-paste", type=float, metavar="SHARE",
                   help="default recipe: this share of the crops drawn without a landslide get one pasted in, cut "
                        "along its outline from another training image (a scar beside bare fields and roads; "
                        f"default {CropMix.copy_paste:g})")
    t.add_argument("--context", choices=("mirror", "mosaic"),
                   help=f"default recipe: past an image's edge a crop sees the image mirrored (default "
                        f"{CropMix.context}), or other training images around it, as in a scene")
    t.add_argument("--bottleneck-dilations", type=int, nargs=2, metavar=("FIRST", "SECOND"),
                   help="default recipe: dilate the bottleneck's two convolutions (e.g. 2 4: the receptive field "
                        "covers a 256-px window; same weights, so it can start from an undilated model; default 1 1)")
    t.add_argument("--lr", type=float, help=f"learning rate (default recipe: peak {default.peak_learning_rate:g}; "
                                            f"paper: {paper.learning_rate:g})")
    t.add_argument("--base-filters", type=int,
                   help=f"network width (default recipe: {default.base_filters}; paper: {paper.base_filters})")
    t.add_argument("--val-share", type=float, help=f"share of images that validate (default recipe: "
                                                   f"{default.val_share}; paper: {paper.val_share})")
    t.add_argument("--negative-share", type=float, default=paper.negative_share,
                   help="share of patches without landslide pixels, where patches are cut: the paper recipe's, and "
                        f"--image split by patch (default {paper.negative_share}; the method keeps none)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--max-minutes", type=float, help="stop cleanly after this long (resume later)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no line per epoch; only the final state")
    t.add_argument("--progress-json", action="store_true",
                   help="JSON progress lines on stdout (step, steps, seconds_left, val_f1)")
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

    w = sub.add_parser("rewrite", help="rewrite, in place, the upsampling of models exported before version 0.9 as "
                       "export now writes it (same values; their INT8 variant, quantized again, runs faster)")
    w.add_argument("models", nargs="+", help="exported prediction models (not their INT8 variants)")
    w.set_defaults(func=cmd_rewrite)

    i = sub.add_parser("interop", help="a copy (<name>_deepness.onnx) the Deepness and GeoDeep tools run as is")
    i.add_argument("models", nargs="+", help="exported prediction models")
    i.set_defaults(func=cmd_interop)

    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            refuse_other_recipes_options(args)
            recipe = RECIPES[args.recipe]
            if args.init_model:
                init_from_model(args)
            if recipe is DefaultRecipe:  # the same pixels per batch whatever the crops' size
                args.patch_size = args.patch_size or DefaultRecipe.patch_size
                args.batch_size = args.batch_size or max(1, round(
                    DefaultRecipe.batch_size * (DefaultRecipe.patch_size / args.patch_size) ** 2))
            args.batch_size = args.batch_size or recipe.batch_size
            if args.val_share is None:
                args.val_share = recipe.val_share
            args.dataset = dataset_from_args(args)
            args.config = recipe_config(args, args.dataset)
        elif args.command == "export" and args.same_data:
            spec = json.loads((Path(args.run) / "spec.json").read_text())
            args.dataset = dataset_from_provenance(spec.get("training", {}).get("dataset", {}))
        elif args.command in ("export", "quantize", "calibrate", "cascade"):
            args.dataset = dataset_at(args.data) if args.data else None
    except (DatasetError, RecipeError) as err:
        sys.exit(str(err))
    args.func(args)

