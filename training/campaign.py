"""A training recipe that converges on a CPU budget, run as a resumable campaign.

The paper's recipe (Adam at a constant 5e-5, Tversky + focal Tversky, 150 epochs on a
GPU) gets a few thousand steps on two CPU cores and stays far from converged. This one
spends the same steps better:

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

Run folder: ``last.keras`` (model + optimizer, every epoch), ``best.keras``, ``state.json``
(step, scores, sampler state: random stream and hard-negative scores), ``spec.json``,
``log.csv``, ``curves.png``; ``best.weights.npz`` is the best model in float16 (4 MB at
16 filters), small enough to commit, so a lost run folder can restart from it
(``--init-weights``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.imagery.bands import build_stack
from ..core.imagery.patches import Sample
from ..core.model.spec import ModelSpec
from .augment import IGNORE
from .data import DEFAULT_BANDS
from .sampler import CropMix, CropSampler
from .train import _append_log, _spec, hardware_used, plot_log


@dataclass
class CampaignConfig:
    architecture: str = "spatial"
    bands: tuple[str, ...] = DEFAULT_BANDS
    base_filters: int = 16
    presence: bool = True
    loss: str = "bce_dice"
    presence_weight: float = 0.5
    batch_size: int = 16
    patch_size: int = 128  # training crops, and the window Detect runs the model in
    steps: int = 4000  # the schedule's length; a run may stop earlier (max_minutes) and resume
    epoch_steps: int = 200
    warmup_steps: int = 200
    peak_learning_rate: float = 2e-3
    final_learning_rate: float = 2e-5
    weight_decay: float = 1e-4
    jit_compile: bool = True
    seed: int = 42
    max_minutes: float | None = None
    mix: CropMix = field(default_factory=CropMix)
    dataset: dict = field(default_factory=dict)

    @property
    def recipe(self) -> str:
        return f"AdamW + warm-up/cosine, {self.loss} loss{', presence head' if self.presence else ''}"


def learning_rate(config: CampaignConfig, step: int) -> float:
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


def normalization_from_samples(samples: list[Sample], bands, seed: int = 0, crops: int = 512) -> tuple[list, list]:
    """Per-band mean and std of the model's bands over random crops of the training images."""
    identity = _spec(bands, [0.0] * len(bands), [1.0] * len(bands), "raw", "none")
    sampler = CropSampler(samples, CropMix(positive_share=0.0, hard_negative_share=0.0), seed, augment_crops=False)
    sources, _, _ = sampler.draw(crops)
    stacks = np.stack([build_stack(identity, s) for s in sources])
    return ([round(float(m), 4) for m in stacks.mean(axis=(0, 2, 3))],
            [round(float(max(s, 1e-3)), 4) for s in stacks.std(axis=(0, 2, 3))])


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


def train_campaign(train_samples: list[Sample], val_samples: list[Sample], run_dir: str | Path,
                   config: CampaignConfig, resume: bool = False, init_weights: str | None = None,
                   init_architecture: str | None = None, log=print, progress=None,
                   init_model: str | None = None) -> dict:
    """Train (or resume) until ``config.steps`` or ``config.max_minutes``; returns the state.

    ``init_model``: the exported model ``init_weights`` came from, recorded so that the export
    can score it beside the new one (before and after).
    ``progress``: called with a dict after every step (``step``, ``steps``) and, after each
    validation, with the epoch's scores too (``epoch``, ``val_f1`` in one scene, ``best_f1``)."""
    import keras
    import tensorflow as tf

    from .architectures import FULL_NAMES, build_model, gated_model
    from .evaluate import ValidationMosaic
    from .losses import MAP_LOSSES, binary_crossentropy

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    spec_file, state_file, log_file = run / "spec.json", run / "state.json", run / "log.csv"
    keras.utils.set_random_seed(config.seed)
    sampler = CropSampler(train_samples, config.mix, config.seed, size=config.patch_size)
    mosaic = ValidationMosaic.of(val_samples)
    if resume and (run / "last.keras").exists():
        spec = ModelSpec.from_json(spec_file.read_text())
        model = keras.models.load_model(run / "last.keras", compile=False)
        state = json.loads(state_file.read_text())
        sampler.load_state(state["sampler"])
        state["stopped"] = None  # a time limit ended the last leg; the schedule may also have been lengthened
        # the spec records the schedule the run follows from now on (the card reports it)
        training = {**spec.extra.get("training", {}), "steps": config.steps, "epoch_steps": config.epoch_steps,
                    "jit_compile": config.jit_compile}
        spec = ModelSpec.from_dict({**spec.to_dict(), "training": training})
        spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
        log(f"resuming at step {state['step']} of {config.steps}")
    else:
        mean, std = normalization_from_samples(train_samples, config.bands, config.seed)
        name = FULL_NAMES[config.architecture]
        model = build_model(config.architecture, len(config.bands), config.base_filters, config.presence)
        started_from = None
        if init_weights:
            started_from = f"`{init_weights}`"
            if init_architecture and init_architecture != config.architecture:
                copied, total = load_shared_layers(model, init_weights, init_architecture, config)
                started_from += shared_layers_note(init_architecture, copied, total)
            else:
                load_compact_weights(model, init_weights)
            log(f"initialised from {started_from}")
        spec = _spec(config.bands, mean, std, name, name, patch_size=config.patch_size, training={
            **asdict(config), "bands": list(config.bands), "recipe": config.recipe,
            "train_images": len(train_samples), "val_images": len(val_samples),
            **({"init_weights": started_from} if started_from else {}),
            **({"init_model": init_model} if init_model else {})})
        spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
        state = {"step": 0, "epoch": 0, "best_f1": None, "best_epoch": None, "best_step": None, "stopped": None,
                 "seconds": 0.0}
        if log_file.exists():
            log_file.unlink()

    state["hardware"] = hardware_used(state.get("hardware"))
    optimizer = keras.optimizers.AdamW(learning_rate=config.peak_learning_rate, weight_decay=config.weight_decay)
    optimizer.build(model.trainable_variables)
    if resume and (run / "optimizer.npz").exists():
        with np.load(run / "optimizer.npz") as saved:
            for variable, key in zip(optimizer.variables, sorted(saved.files, key=int)):
                variable.assign(saved[key])
    map_loss = MAP_LOSSES[config.loss]
    presence = len(model.outputs) == 2

    def step_fn(x, y, known, lr):
        optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            probability = (outputs[0] if presence else outputs) * known
            loss = map_loss(y, probability)
            if presence:
                has_landslide = tf.cast(tf.reduce_max(y, axis=(1, 2, 3)) > 0, tf.float32)[:, None]
                loss = loss + config.presence_weight * binary_crossentropy(has_landslide, outputs[1])
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        marked = tf.cast(probability > 0.5, tf.float32) * (1.0 - y)
        return loss, tf.reduce_mean(marked, axis=(1, 2, 3))

    step_fn = tf.function(step_fn, jit_compile=config.jit_compile, reduce_retracing=True)
    started = time.monotonic()
    losses: list[float] = []
    epoch_started = time.monotonic()
    while state["step"] < config.steps and not state.get("stopped"):
        sources, masks, images = sampler.draw(config.batch_size)
        x = np.stack([build_stack(spec, s).transpose(1, 2, 0) for s in sources]).astype(np.float32)
        y, known = targets(masks)
        loss, false_alarms = step_fn(x, y, known, tf.constant(learning_rate(config, state["step"]), tf.float32))
        sampler.record(images, false_alarms.numpy())
        losses.append(float(loss))
        state["step"] += 1
        if progress is not None:
            progress({"step": state["step"], "steps": config.steps})
        if state["step"] % config.epoch_steps and state["step"] < config.steps:
            continue
        # an epoch: validate as Detect runs, keep the best, checkpoint everything
        train_seconds = time.monotonic() - epoch_started
        state["epoch"] += 1
        views = validation_scores(gated_model(model), spec, val_samples, mosaic)
        threshold, scores = views["image"]
        scene_threshold, scene_scores = views["mosaic"]
        row = {"step": state["step"], "loss": float(np.mean(losses)), "learning_rate": learning_rate(
            config, state["step"] - 1), "seconds_per_step": train_seconds / len(losses),
            **_score_columns("val_", threshold, scores), **_score_columns("val_mosaic_", scene_threshold, scene_scores)}
        _append_log(log_file, state["epoch"], row)
        if state["best_f1"] is None or scene_scores["f1"] > state["best_f1"]:
            state.update(best_f1=scene_scores["f1"], best_on="validation mosaic", best_epoch=state["epoch"],
                         best_step=state["step"], best_scores={k: v for k, v in row.items() if k.startswith("val_")})
            model.save(run / "best.keras")
            save_compact_weights(model, run / "best.weights.npz")
        model.save(run / "last.keras")
        np.savez(run / "optimizer.npz", **{str(i): v.numpy() for i, v in enumerate(optimizer.variables)})
        state["seconds"] += time.monotonic() - epoch_started
        state["sampler"] = sampler.state()
        log(f"epoch {state['epoch']} step {state['step']}: loss {row['loss']:.4f}, "
            f"{row['seconds_per_step']:.2f} s/step; validation F1 per image {scores['f1']:.3f} (P {scores['precision']:.3f}"
            f" R {scores['recall']:.3f}) at {threshold}, landslide-free images flagged "
            f"{scores['landslide_free_images_with_detections']}/{scores['landslide_free_images']}; in one scene "
            f"{scene_scores['f1']:.3f} (P {scene_scores['precision']:.3f} R {scene_scores['recall']:.3f}) at "
            f"{scene_threshold}, flagged {scene_scores['landslide_free_images_with_detections']}")
        if progress is not None:
            progress({"step": state["step"], "steps": config.steps, "epoch": state["epoch"],
                      "val_f1": round(scene_scores["f1"], 4), "best_f1": round(state["best_f1"], 4)})
        if config.max_minutes and (time.monotonic() - started) / 60 > config.max_minutes:
            state["stopped"] = f"time limit at step {state['step']} (resume with --resume)"
        state_file.write_text(json.dumps(state, indent=1))
        plot_campaign(log_file, run / "curves.png")
        losses, epoch_started = [], time.monotonic()
    if state["step"] >= config.steps and not state.get("stopped"):
        state["stopped"] = f"schedule complete at step {state['step']}"
        state_file.write_text(json.dumps(state, indent=1))
    return state


def save_compact_weights(model, path: Path) -> None:
    """The model's weights in float16, in layer order: small enough to commit."""
    np.savez_compressed(path, **{f"{i:04d}": w.astype(np.float16) for i, w in enumerate(model.get_weights())})


def load_compact_weights(model, path: str | Path) -> None:
    with np.load(path) as saved:
        weights = [saved[k].astype(np.float32) for k in sorted(saved.files)]
    model.set_weights(weights)


def load_shared_layers(model, path: str | Path, source_architecture: str, config: CampaignConfig) -> tuple[int, int]:
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


def plot_campaign(log_file: Path, png: Path) -> None:
    plot_log(log_file, png, "step", [("loss", "training loss")], "training loss (per epoch of steps)",
             [("val_mosaic_f1", "validation F1, one scene"), ("val_f1", "validation F1, per image"),
              ("val_precision", "precision"), ("val_recall", "recall"),
              ("val_threshold", "chosen threshold"), ("val_flagged_share", "landslide-free images flagged")],
             "validation images, run as Detect runs")
