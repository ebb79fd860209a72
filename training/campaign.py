"""The one trainer: a recipe (training/recipes.py) on whole images or patches, run as a
resumable campaign of steps.

Whatever the recipe, a run is a loop of steps grouped in epochs, after each of which the
model is validated, the best checkpoint kept and everything saved, so that a run stopped
(``max_minutes``) and resumed in a later session equals the run done at once. What a
recipe decides is kept in its plan (:class:`DefaultRecipePlan`, :class:`PaperRecipePlan`):
where a step's batch comes from, its learning rate, how an epoch is judged and when a run
ends.

The default recipe (the paper's, Adam at a constant 5e-5, Tversky + focal Tversky over
150 epochs on a GPU, gets a few thousand steps on two CPU cores and stays far from
converged; this one spends the same steps better):

- AdamW, linear warm-up then cosine decay, both defined on the *global step*, so a run
  resumed in a later session continues the same schedule;
- crops drawn afresh every step from whole images (:mod:`training.sampler`: centred on
  landslides, landslide-free terrain, hard negatives); pixels without data (a mosaic's
  gutters) are left out of the loss (:func:`targets`);
- a balanced loss by default (BCE + Dice) so probabilities mean something and the
  validation threshold lands near the middle, not at 0.99;
- optionally a presence head ("does this window hold a landslide?") trained jointly;
- an "epoch" of a fixed number of steps, after which the model is run *as Detect runs it*
  (blended windows) over the validation images, each alone and all of them packed into
  one scene (:class:`training.evaluate.ValidationMosaic`), and scored over a threshold
  grid: progress every few minutes, and the checkpoint kept is the one with the best F1
  in the scene (per-image scores reward the framing of an isolated image, which a
  mapper's scene does not have).

The paper recipe: its fixed patches (the samples given are the patches) in a new order
every epoch, augmented as drawn; Adam, the learning rate reduced on plateaus of the
validation loss, early stopping, the checkpoint kept the one with the lowest validation
loss (over the validation patches, pixel scores at 0.5 beside it).

Run folder: ``last.keras`` (the model, every epoch), ``optimizer.npz``, ``best.keras``,
``state.json`` (step, scores, the batches' state: random stream, and the hard-negative
scores or the epoch's order), ``spec.json``, ``log.csv``, ``curves.png``;
``best.weights.npz`` is the best model in float16 (4 MB at 16 filters), small enough to
commit, so a lost run folder can restart from it (``--init-weights``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..core.imagery.bands import build_stack
from ..core.imagery.patches import Sample
from ..core.model.spec import ModelSpec
from .augment import IGNORE, augment
from .recipes import DefaultRecipe, PaperRecipe, RecipeError, recipe_of
from .run_folder import append_log, hardware_used, model_spec, plot_log, raw_spec
from .sampler import CropMix, CropSampler

Recipe = DefaultRecipe | PaperRecipe


def learning_rate(config: DefaultRecipe, step: int) -> float:
    """Linear warm-up to the peak, then cosine decay to the final rate at ``steps``."""
    if step < config.warmup_steps:
        return config.peak_learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return config.final_learning_rate + 0.5 * (config.peak_learning_rate - config.final_learning_rate) * (
        1 + np.cos(np.pi * progress))


def targets(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The step's (landslide, known) NHWC float32 maps from the sampler's masks: known is 0
    where there is no data (IGNORE), and the step multiplies the prediction by it, so those
    pixels are neither a hit, a miss nor a false alarm for any of the losses."""
    return (masks == 1)[..., None].astype(np.float32), (masks != IGNORE)[..., None].astype(np.float32)


def model_input(spec: ModelSpec, sources: list[dict]) -> np.ndarray:
    """The NHWC float32 batch the network reads from crops' or patches' sources (slope, when
    a source holds it, as the slope band)."""
    return np.stack([build_stack(spec, s, s.get("slope")).transpose(1, 2, 0) for s in sources]).astype(np.float32)


def normalization_from_samples(samples: list[Sample], bands, seed: int = 0, crops: int = 512) -> tuple[list, list]:
    """Per-band mean and std of the model's bands over random crops of the training images."""
    identity = raw_spec(bands)
    sampler = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=0.0), seed, augment_crops=False)
    sources, _, _ = sampler.draw(crops)
    stacks = np.stack([build_stack(identity, s, s.get("slope")) for s in sources])
    return ([round(float(m), 4) for m in stacks.mean(axis=(0, 2, 3))],
            [round(float(max(s, 1e-3)), 4) for s in stacks.std(axis=(0, 2, 3))])


def starting_normalization(init_model: str | None, bands) -> tuple[list, list] | None:
    """The normalization of the exported model a fine-tune starts from (None: there is none,
    or its bands differ): its first layer learned that scale, and the mapper's own imagery,
    measured afresh, would shift every input the weights expect."""
    if not init_model:
        return None
    from ..core.model.onnx_model import read_spec

    start = read_spec(init_model)
    if tuple(start.bands) != tuple(bands):
        return None
    return list(start.mean), list(start.std)


class KerasPredictor:
    """A Keras model behind the engine's model interface (spec, NCHW batch -> probability)."""

    def __init__(self, model, spec: ModelSpec):
        import tensorflow as tf

        self.spec = spec
        # traced once per batch shape: 2.5x faster than eager calls over a validation pass
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(np.ascontiguousarray(batch.transpose(0, 2, 3, 1))))[..., 0]


def validation_scores(model, spec: ModelSpec, samples: list[Sample], mosaic=None) -> dict[str, tuple[float, dict]]:
    """(best threshold, its scores) of the model run as Detect runs it, per view: "image"
    (each image alone) and, given the validation ``mosaic``, "mosaic" (one scene)."""
    from .evaluate import best_threshold, best_threshold_in_mosaic

    predictor = KerasPredictor(model, spec)
    views = {"image": best_threshold(predictor, samples)}
    if mosaic is not None:
        views["mosaic"] = best_threshold_in_mosaic(predictor, mosaic)
    return views


def _score_columns(prefix: str, threshold: float, scores: dict) -> dict:
    return {f"{prefix}threshold": threshold, **{f"{prefix}{k}": v for k, v in scores.items() if isinstance(v, (int, float))},
            f"{prefix}flagged_share": scores["landslide_free_images_with_detections"] / max(1, scores["landslide_free_images"])}


class PatchEpochs:
    """The paper recipe's batches: its fixed patches in a new random order every epoch (the
    last batch of an epoch may be smaller), each augmented afresh when drawn. The random
    stream, the epoch's order and the place in it are saved with each checkpoint, so a
    resumed run draws what the uninterrupted run would have drawn."""

    def __init__(self, samples: list[Sample], batch_size: int, seed: int):
        self.samples, self.batch_size = samples, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(samples))
        self.position = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return math.ceil(len(self.samples) / self.batch_size)

    def draw(self, count: int):
        """(sources list, masks (N, size, size) uint8, patch indices) of the epoch's next
        ``count`` patches (fewer at the epoch's end)."""
        if self.position == 0:
            self.rng.shuffle(self.order)
        picks = self.order[self.position:self.position + count]
        self.position = (self.position + len(picks)) % len(self.samples)
        drawn = [augment(self.samples[i].sources, self.samples[i].mask, self.rng) for i in picks]
        return [sources for sources, _ in drawn], np.stack([mask for _, mask in drawn]), picks.copy()

    def record(self, images: np.ndarray, false_alarm_shares: np.ndarray) -> None:
        """The method mines no hard negatives: nothing to record."""

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": self.order.tolist(), "position": self.position}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order = np.array(state["order"], dtype=int)
        self.position = int(state["position"])


class DefaultRecipePlan:
    """What the default recipe decides in the loop: crops drawn afresh (hard negatives
    mined), AdamW on the warm-up/cosine schedule, ``epoch_steps`` steps an epoch, validation
    as Detect runs, the best checkpoint by F1 in one scene; the run ends at ``steps``."""

    #: settings a resumed leg may change (the spec records the ones the run follows now)
    RESUMABLE = ("steps", "epoch_steps", "jit_compile")

    def __init__(self, config: DefaultRecipe, train_samples: list[Sample], val_samples: list[Sample]):
        from .evaluate import ValidationMosaic

        self.config, self.val_samples = config, val_samples
        self.batches = CropSampler(train_samples, config.mix, config.seed, size=config.patch_size)
        self.mosaic = ValidationMosaic.of(val_samples)
        self.epoch_steps, self.total_steps = config.epoch_steps, config.steps

    @staticmethod
    def counts(train_samples: list[Sample], val_samples: list[Sample]) -> dict:
        return {"train_images": len(train_samples), "val_images": len(val_samples)}

    @staticmethod
    def fresh_state() -> dict:
        return {"step": 0, "epoch": 0, "best_f1": None, "best_epoch": None, "best_step": None, "stopped": None,
                "seconds": 0.0}

    @staticmethod
    def finished(state: dict) -> bool:
        return False  # a time limit ended the last leg; the schedule may also have been lengthened

    def optimizer(self):
        import keras

        return keras.optimizers.AdamW(learning_rate=self.config.peak_learning_rate,
                                      weight_decay=self.config.weight_decay)

    def learning_rate(self, step: int, state: dict) -> float:
        return learning_rate(self.config, step)

    def validate(self, model, spec: ModelSpec) -> tuple[dict, str]:
        """The epoch's log columns and its summary in words."""
        from .architectures import gated_model

        views = validation_scores(gated_model(model), spec, self.val_samples, self.mosaic)
        threshold, scores = views["image"]
        scene_threshold, scene_scores = views["mosaic"]
        summary = (f"validation F1 per image {scores['f1']:.3f} (P {scores['precision']:.3f} R {scores['recall']:.3f}) "
                   f"at {threshold}, landslide-free images flagged {scores['landslide_free_images_with_detections']}/"
                   f"{scores['landslide_free_images']}; in one scene {scene_scores['f1']:.3f} (P "
                   f"{scene_scores['precision']:.3f} R {scene_scores['recall']:.3f}) at {scene_threshold}, flagged "
                   f"{scene_scores['landslide_free_images_with_detections']}")
        return {**_score_columns("val_", threshold, scores),
                **_score_columns("val_mosaic_", scene_threshold, scene_scores)}, summary

    @staticmethod
    def headline_f1(scores: dict) -> float:
        """The F1 a validation is known by: in one scene."""
        return scores["val_mosaic_f1"]

    @staticmethod
    def improved(state: dict, row: dict) -> bool:
        return state["best_f1"] is None or row["val_mosaic_f1"] > state["best_f1"]

    @staticmethod
    def keep_best(state: dict, row: dict) -> None:
        state.update(best_f1=row["val_mosaic_f1"], best_on="validation mosaic", best_epoch=state["epoch"],
                     best_step=state["step"], best_scores={k: v for k, v in row.items() if k.startswith("val_")})

    def after_epoch(self, state: dict, row: dict, improved: bool, log) -> None:
        """Nothing: the schedule is fixed in advance."""

    def complete(self, state: dict) -> str:
        return f"schedule complete at step {state['step']}"

    @staticmethod
    def plot(log_file: Path, png: Path) -> None:
        plot_log(log_file, png, "step", [("loss", "training loss")], "training loss (per epoch of steps)",
                 [("val_mosaic_f1", "validation F1, one scene"), ("val_f1", "validation F1, per image"),
                  ("val_precision", "precision"), ("val_recall", "recall"),
                  ("val_threshold", "chosen threshold"), ("val_flagged_share", "landslide-free images flagged")],
                 "validation images, run as Detect runs")


class PaperRecipePlan:
    """What the paper recipe decides in the loop: its fixed patches (the samples given) in
    epochs, Adam at a rate reduced after ``lr_patience`` epochs without a better validation
    loss, early stopping after ``patience``, the best checkpoint by validation loss; the run
    ends after ``epochs``."""

    RESUMABLE = ("epochs", "patience", "jit_compile")

    def __init__(self, config: PaperRecipe, train_samples: list[Sample], val_samples: list[Sample]):
        for role, samples in (("training", train_samples), ("validation", val_samples)):
            sizes = {s.mask.shape for s in samples}
            if not samples:
                raise RecipeError(f"the paper recipe was given no {role} patches")
            if sizes != {(config.patch_size, config.patch_size)}:
                raise RecipeError(f"the paper recipe trains on its fixed {config.patch_size}-px patches: the "
                                  f"{role} samples measure {', '.join(f'{h}x{w}' for h, w in sorted(sizes))} px "
                                  "(a dataset's patch_samples() cuts them)")
        self.config, self.val_samples = config, val_samples
        self.batches = PatchEpochs(train_samples, config.batch_size, config.seed)
        self.epoch_steps = len(self.batches)
        self.total_steps = config.epochs * self.epoch_steps

    @staticmethod
    def counts(train_samples: list[Sample], val_samples: list[Sample]) -> dict:
        from .data import source_image

        return {"train_patches": len(train_samples), "val_patches": len(val_samples),
                "train_images": len({source_image(s.id) for s in train_samples}),
                "val_images": len({source_image(s.id) for s in val_samples})}

    def fresh_state(self) -> dict:
        return {"step": 0, "epoch": 0, "best_val_loss": None, "best_epoch": None, "best_step": None,
                "since_best": 0, "since_lr_drop": 0, "learning_rate": self.config.learning_rate, "stopped": None,
                "seconds": 0.0}

    @staticmethod
    def finished(state: dict) -> bool:
        return (state.get("stopped") or "").startswith("early")  # more epochs would not change the best one

    def optimizer(self):
        import keras

        return keras.optimizers.Adam(self.config.learning_rate)

    def learning_rate(self, step: int, state: dict) -> float:
        return state["learning_rate"]

    def validate(self, model, spec: ModelSpec) -> tuple[dict, str]:
        """The method's loss over the validation patches and its pixel scores at 0.5
        (counts summed over all patches), as the epoch's log columns; and in words."""
        import tensorflow as tf

        from .losses import MAP_LOSSES

        forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        loss_sum, counts = 0.0, np.zeros(4)  # tp, fp, fn, tn
        for start in range(0, len(self.val_samples), self.config.batch_size):
            chunk = self.val_samples[start:start + self.config.batch_size]
            y, known = targets(np.stack([s.mask for s in chunk]))
            probability = np.asarray(forward(model_input(spec, [s.sources for s in chunk]))) * known
            loss_sum += float(MAP_LOSSES[self.config.loss](y, probability)) * len(chunk)  # Keras weighs batches so
            marked, truth, scored = probability >= 0.5, y > 0.5, known > 0
            counts += [np.sum(marked & truth), np.sum(marked & ~truth & scored), np.sum(~marked & truth),
                       np.sum(~marked & ~truth & scored)]
        tp, fp, fn, tn = counts
        eps = 1e-7
        row = {"val_loss": loss_sum / len(self.val_samples), "val_precision": tp / (tp + fp + eps),
               "val_recall": tp / (tp + fn + eps), "val_f1": 2 * tp / (2 * tp + fp + fn + eps),
               "val_iou": tp / (tp + fp + fn + eps), "val_accuracy": (tp + tn) / (tp + fp + fn + tn + eps)}
        summary = (f"validation loss {row['val_loss']:.4f}, pixel F1 {row['val_f1']:.3f} (P {row['val_precision']:.3f}"
                   f" R {row['val_recall']:.3f}) at 0.5")
        return {k: float(v) for k, v in row.items()}, summary

    @staticmethod
    def headline_f1(scores: dict) -> float:
        return scores["val_f1"]

    @staticmethod
    def improved(state: dict, row: dict) -> bool:
        return state["best_val_loss"] is None or row["val_loss"] < state["best_val_loss"]

    @staticmethod
    def keep_best(state: dict, row: dict) -> None:
        state.update(best_val_loss=row["val_loss"], best_on="validation loss", best_epoch=state["epoch"],
                     best_step=state["step"], since_best=0, since_lr_drop=0,
                     best_scores={k: v for k, v in row.items() if k.startswith("val_")})

    def after_epoch(self, state: dict, row: dict, improved: bool, log) -> None:
        """The plateau rules: the rate reduced after ``lr_patience`` epochs without a better
        validation loss, the run stopped after ``patience``."""
        if improved:
            return
        state["since_best"] += 1
        state["since_lr_drop"] += 1
        if state["since_lr_drop"] >= self.config.lr_patience:
            state["learning_rate"] = max(state["learning_rate"] * self.config.lr_factor, self.config.min_learning_rate)
            state["since_lr_drop"] = 0
            log(f"learning rate reduced to {state['learning_rate']:.3g}")
        if state["since_best"] >= self.config.patience:
            state["stopped"] = f"early stopping after epoch {state['epoch']}"

    def complete(self, state: dict) -> str:
        return f"all {self.config.epochs} epochs done at step {state['step']}"

    @staticmethod
    def plot(log_file: Path, png: Path) -> None:
        plot_log(log_file, png, "epoch", [("loss", "training"), ("val_loss", "validation")],
                 "Tversky + focal Tversky loss",
                 [("val_f1", "validation F1"), ("val_iou", "validation IoU"), ("val_precision", "precision"),
                  ("val_recall", "recall")], "validation patches, pixel scores (threshold 0.5)")


PLANS = {DefaultRecipe: DefaultRecipePlan, PaperRecipe: PaperRecipePlan}


def train_campaign(train_samples: list[Sample], val_samples: list[Sample], run_dir: str | Path,
                   config: Recipe, resume: bool = False, init_weights: str | None = None,
                   init_architecture: str | None = None, log=print, progress=None,
                   init_model: str | None = None) -> dict:
    """Train (or resume) with ``config``'s recipe until its schedule ends, it stops early or
    ``config.max_minutes`` pass; returns the state. The samples are whole images for the
    default recipe, the fixed patches for the paper's (a dataset's ``patch_samples``).

    ``init_model``: the exported model ``init_weights`` came from, recorded so that the export
    can score it beside the new one (before and after).
    ``progress``: called with a dict after every step (``step``, ``steps``) and, after each
    validation, with the epoch's scores too (``epoch``, ``val_f1`` (the default recipe: in one
    scene), ``best_f1``)."""
    import keras
    import tensorflow as tf

    from .architectures import FULL_NAMES, build_model
    from .losses import MAP_LOSSES, binary_crossentropy

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    spec_file, state_file, log_file = run / "spec.json", run / "state.json", run / "log.csv"
    keras.utils.set_random_seed(config.seed)
    plan = PLANS[type(config)](config, train_samples, val_samples)
    if resume and (run / "last.keras").exists():
        spec = ModelSpec.from_json(spec_file.read_text())
        recorded = recipe_of(spec.extra.get("training", {}))
        if recorded != config.name:
            raise RecipeError(f"{run} was trained with the {recorded} recipe: resume it with --recipe {recorded}")
        model = keras.models.load_model(run / "last.keras", compile=False)
        state = json.loads(state_file.read_text())
        if plan.finished(state):
            log(f"{run}: {state['stopped']}; nothing to resume")
            return state
        plan.batches.load_state(state["sampler"])
        state["stopped"] = None
        # the spec records the schedule the run follows from now on (the card reports it)
        training = {**spec.extra.get("training", {}), **{k: getattr(config, k) for k in plan.RESUMABLE}}
        spec = ModelSpec.from_dict({**spec.to_dict(), "training": training})
        spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
        log(f"resuming at step {state['step']} of {plan.total_steps}")
    else:
        mean, std = starting_normalization(init_model, config.bands) or normalization_from_samples(
            train_samples, config.bands, config.seed)
        name = FULL_NAMES[config.architecture]
        model = build_model(config.architecture, len(config.bands), config.base_filters, config.presence,
                            config.bottleneck_dilations)
        started_from = None
        if init_weights:
            started_from = f"`{init_weights}`"
            if init_architecture and init_architecture != config.architecture:
                copied, total = load_shared_layers(model, init_weights, init_architecture, config)
                started_from += shared_layers_note(init_architecture, copied, total)
            else:
                load_compact_weights(model, init_weights)
            log(f"initialised from {started_from}")
        spec = model_spec(config.bands, mean, std, name, name, patch_size=config.patch_size, training={
            **asdict(config), "recipe_name": config.name, "bands": list(config.bands), "recipe": config.description,
            "loss": config.loss, "presence": config.presence, "patch_size": config.patch_size,
            **plan.counts(train_samples, val_samples),
            **({"init_weights": started_from} if started_from else {}),
            **({"init_model": init_model} if init_model else {})})
        spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
        state = plan.fresh_state()
        if log_file.exists():
            log_file.unlink()

    state["hardware"] = hardware_used(state.get("hardware"))
    optimizer = plan.optimizer()
    optimizer.build(model.trainable_variables)
    if resume and (run / "optimizer.npz").exists():
        with np.load(run / "optimizer.npz") as saved:
            for variable, key in zip(optimizer.variables, sorted(saved.files, key=int)):
                variable.assign(saved[key])
    map_loss = MAP_LOSSES[config.loss]
    presence = len(model.outputs) == 2
    presence_weight = config.presence_weight if presence else 0.0  # only the default recipe has the head

    def step_fn(x, y, known, lr):
        optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            probability = (outputs[0] if presence else outputs) * known
            loss = map_loss(y, probability)
            if presence:
                has_landslide = tf.cast(tf.reduce_max(y, axis=(1, 2, 3)) > 0, tf.float32)[:, None]
                loss = loss + presence_weight * binary_crossentropy(has_landslide, outputs[1])
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        marked = tf.cast(probability > 0.5, tf.float32) * (1.0 - y)
        return loss, tf.reduce_mean(marked, axis=(1, 2, 3))

    step_fn = tf.function(step_fn, jit_compile=config.jit_compile, reduce_retracing=True)
    started = time.monotonic()
    losses: list[float] = []
    epoch_started = time.monotonic()
    while state["step"] < plan.total_steps and not state.get("stopped"):
        sources, masks, images = plan.batches.draw(config.batch_size)
        x = model_input(spec, sources)
        y, known = targets(masks)
        loss, false_alarms = step_fn(x, y, known, tf.constant(plan.learning_rate(state["step"], state), tf.float32))
        plan.batches.record(images, false_alarms.numpy())
        losses.append(float(loss))
        state["step"] += 1
        if progress is not None:
            progress({"step": state["step"], "steps": plan.total_steps})
        if state["step"] % plan.epoch_steps and state["step"] < plan.total_steps:
            continue
        # an epoch: validate, keep the best, checkpoint everything
        train_seconds = time.monotonic() - epoch_started
        state["epoch"] += 1
        scores, summary = plan.validate(model, spec)
        row = {"step": state["step"], "loss": float(np.mean(losses)),
               "learning_rate": plan.learning_rate(state["step"] - 1, state),
               "seconds_per_step": train_seconds / len(losses), **scores}
        append_log(log_file, state["epoch"], row)
        improved = plan.improved(state, row)
        if improved:
            plan.keep_best(state, row)
            model.save(run / "best.keras")
            save_compact_weights(model, run / "best.weights.npz")
        plan.after_epoch(state, row, improved, log)
        model.save(run / "last.keras")
        np.savez(run / "optimizer.npz", **{str(i): v.numpy() for i, v in enumerate(optimizer.variables)})
        state["seconds"] += time.monotonic() - epoch_started
        state["sampler"] = plan.batches.state()
        log(f"epoch {state['epoch']} step {state['step']}: loss {row['loss']:.4f}, "
            f"{row['seconds_per_step']:.2f} s/step; {summary}")
        if progress is not None:
            progress({"step": state["step"], "steps": plan.total_steps, "epoch": state["epoch"],
                      "val_f1": round(plan.headline_f1(row), 4),
                      "best_f1": round(plan.headline_f1(state["best_scores"]), 4)})
        if not state.get("stopped") and config.max_minutes and (time.monotonic() - started) / 60 > config.max_minutes:
            state["stopped"] = f"time limit at step {state['step']} (resume with --resume)"
        state_file.write_text(json.dumps(state, indent=1))
        plan.plot(log_file, run / "curves.png")
        losses, epoch_started = [], time.monotonic()
    if state["step"] >= plan.total_steps and not state.get("stopped"):
        state["stopped"] = plan.complete(state)
        state_file.write_text(json.dumps(state, indent=1))
    return state


def save_compact_weights(model, path: Path) -> None:
    """The model's weights in float16, in layer order: small enough to commit."""
    np.savez_compressed(path, **{f"{i:04d}": w.astype(np.float16) for i, w in enumerate(model.get_weights())})


def load_compact_weights(model, path: str | Path) -> None:
    with np.load(path) as saved:
        weights = [saved[k].astype(np.float32) for k in sorted(saved.files)]
    model.set_weights(weights)


def load_shared_layers(model, path: str | Path, source_architecture: str, config: Recipe) -> tuple[int, int]:
    """Warm-start ``model`` from another architecture's compact weights: the four U-Nets
    name their shared encoder, decoder and heads alike, so every layer whose name and weight
    shapes match is copied; attention blocks of their own start fresh. Returns (copied,
    layers with weights)."""
    from .architectures import build_model

    source = build_model(source_architecture, len(config.bands), config.base_filters, config.presence)
    load_compact_weights(source, path)
    by_name = {layer.name: layer for layer in source.layers}
    with_weights = [layer for layer in model.layers if layer.get_weights()]
    copied = 0
    for layer in with_weights:
        twin = by_name.get(layer.name)
        if twin is not None and [w.shape for w in twin.get_weights()] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(twin.get_weights())
            copied += 1
    return copied, len(with_weights)


def shared_layers_note(source_architecture: str, copied: int, total: int) -> str:
    """What a warm start from another architecture copied, in the card's words."""
    from .architectures import FULL_NAMES

    copied_part = (f"all {total} of this network's layers with weights" if copied == total  # e.g. the plain U-Net
                   else f"the {copied} of this network's {total} layers with weights that it shares, "
                        "the rest freshly initialised")
    return f" (a {FULL_NAMES[source_architecture]}'s: {copied_part})"

