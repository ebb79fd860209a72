"""Training one of the four U-Nets with the method's settings, resumable.

Outputs in the run folder: ``best.keras`` (best validation loss), ``last.keras`` (every
epoch, for ``--resume``), ``spec.json`` (the model spec Detect will read: bands,
normalization from the training patches, patch size, threshold, provenance), ``log.csv``
(one row per epoch), ``curves.png`` and ``state.json`` (early-stopping state).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.imagery.bands import build_stack
from ..core.model.spec import IMAGE_BANDS, ModelSpec
from .augment import augment
from .data import DEFAULT_BANDS, PATCH, PatchSet


@dataclass
class TrainConfig:
    architecture: str = "spatial"
    bands: tuple[str, ...] = DEFAULT_BANDS
    epochs: int = 150
    batch_size: int = 16
    learning_rate: float = 5e-5
    patience: int = 30
    lr_patience: int = 10
    lr_factor: float = 0.5
    base_filters: int = 32
    seed: int = 42
    max_minutes: float | None = None
    dataset: dict = field(default_factory=dict)


def normalization_from(patches: PatchSet, bands, sample: int = 512, seed: int = 0) -> tuple[list, list]:
    """Per-band mean and std of the model's bands over (a sample of) training patches."""
    identity = _spec(bands, [0.0] * len(bands), [1.0] * len(bands), "raw", "none")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(patches), size=min(sample, len(patches)), replace=False)
    slopes = patches.sources.get("slope")
    stacks = np.stack([
        build_stack(identity, _image_sources(patches, i), None if slopes is None else slopes[i]) for i in picks
    ])
    mean = stacks.mean(axis=(0, 2, 3))
    std = stacks.std(axis=(0, 2, 3))
    return [round(float(m), 4) for m in mean], [round(float(max(s, 1e-3)), 4) for s in std]


def _image_sources(patches: PatchSet, i: int) -> dict:
    return {k: v[i] for k, v in patches.sources.items() if k in IMAGE_BANDS}


def _spec(bands, mean, std, name, architecture, **extra) -> ModelSpec:
    return ModelSpec.from_dict({
        "spec_version": 1, "name": name, "architecture": architecture, "bands": list(bands),
        "normalization": {"mean": list(mean), "std": list(std)}, "patch_size": PATCH, "size_multiple": 16,
        "threshold": 0.5, "output": "landslide_probability", "layout": "NHWC", **extra,
    })


class PatchBatches:
    """Batches of (augmented) patches as NHWC model input and masks."""

    def __init__(self, patches: PatchSet, spec: ModelSpec, batch_size: int, augment_patches: bool, seed: int):
        self.patches, self.spec, self.batch_size = patches, spec, batch_size
        self.augment_patches = augment_patches
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(patches))

    def __len__(self):
        return math.ceil(len(self.patches) / self.batch_size)

    def shuffle(self):
        self.rng.shuffle(self.order)

    def batch(self, index: int):
        ids = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        xs, ys = [], []
        for i in ids:
            sources = {k: v[i] for k, v in self.patches.sources.items()}
            mask = self.patches.masks[i]
            if self.augment_patches:
                sources, mask = augment(sources, mask, self.rng)
            slope = sources.pop("slope", None)
            xs.append(build_stack(self.spec, sources, slope).transpose(1, 2, 0))
            ys.append(mask[..., None])
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)

    def dataset(self):
        """A tf.data pipeline over this generator, reshuffled each epoch."""
        import tensorflow as tf

        n_bands = len(self.spec.bands)

        def generate():
            self.shuffle() if self.augment_patches else None
            for b in range(len(self)):
                yield self.batch(b)

        signature = (
            tf.TensorSpec((None, PATCH, PATCH, n_bands), tf.float32),
            tf.TensorSpec((None, PATCH, PATCH, 1), tf.float32),
        )
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        # tell Keras how many batches an epoch has, so it neither guesses nor warns
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)


def train(train_patches: PatchSet, val_patches: PatchSet, run_dir: str | Path, config: TrainConfig,
          resume: bool = False, verbose: int = 1) -> dict:
    """Train (or resume) a model; returns the best epoch's validation scores."""
    import keras

    from .architectures import FULL_NAMES, build_model
    from .losses import CombinedTverskyLoss, segmentation_metrics

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    spec_file, state_file, log_file = run / "spec.json", run / "state.json", run / "log.csv"

    if resume and (run / "last.keras").exists():
        spec = ModelSpec.from_json(spec_file.read_text())
        model = keras.models.load_model(run / "last.keras")
        state = json.loads(state_file.read_text())
    else:
        mean, std = normalization_from(train_patches, config.bands)
        spec = _spec(config.bands, mean, std, f"{FULL_NAMES[config.architecture]}", FULL_NAMES[config.architecture],
                     training={**asdict(config), "bands": list(config.bands),
                               "train_patches": len(train_patches), "val_patches": len(val_patches),
                               "train_images": len(set(train_patches.groups)),
                               "val_images": len(set(val_patches.groups))})
        spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
        model = build_model(config.architecture, len(config.bands), config.base_filters)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=CombinedTverskyLoss(),
                      metrics=segmentation_metrics(spec.threshold))
        state = {"epoch": 0, "best_val_loss": None, "best_epoch": None, "since_best": 0, "since_lr_drop": 0,
                 "stopped": None}
        if log_file.exists():
            log_file.unlink()

    train_data = PatchBatches(train_patches, spec, config.batch_size, True, config.seed).dataset()
    val_data = PatchBatches(val_patches, spec, config.batch_size, False, config.seed).dataset()
    started = time.monotonic()

    class Bookkeeping(keras.callbacks.Callback):
        """Best-val checkpoint, resumable early stopping and LR-on-plateau, CSV, curves."""

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            _append_log(log_file, epoch + 1, logs)
            self.model.save(run / "last.keras")
            state["epoch"] = epoch + 1
            val_loss = logs["val_loss"]
            if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
                state.update(best_val_loss=val_loss, best_epoch=epoch + 1, since_best=0, since_lr_drop=0,
                             best_scores={k: v for k, v in logs.items() if k.startswith("val_")})
                self.model.save(run / "best.keras")
            else:
                state["since_best"] += 1
                state["since_lr_drop"] += 1
                if state["since_lr_drop"] >= config.lr_patience:
                    new_lr = max(logs["learning_rate"] * config.lr_factor, 1e-7)
                    self.model.optimizer.learning_rate.assign(new_lr)
                    state["since_lr_drop"] = 0
                if state["since_best"] >= config.patience:
                    state["stopped"] = f"early stopping after epoch {epoch + 1}"
                    self.model.stop_training = True
            if config.max_minutes and (time.monotonic() - started) / 60 > config.max_minutes:
                state["stopped"] = f"time limit after epoch {epoch + 1} (resume with --resume)"
                self.model.stop_training = True
            state_file.write_text(json.dumps(state, indent=1))
            plot_curves(log_file, run / "curves.png")

    if (state.get("stopped") or "").startswith("early"):
        return state
    state["stopped"] = None
    state["hardware"] = hardware_used(state.get("hardware"))
    model.fit(train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=state["epoch"],
              callbacks=[Bookkeeping()], verbose=verbose, shuffle=False)  # batches shuffle themselves
    return state


def hardware_used(recorded: str | None = None) -> str:
    """What trains this leg of a run (the GPU TensorFlow uses, else the CPU cores this
    process may use), after what the run's earlier legs ``recorded``: the card says it."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        now = f"{len(gpus)} x {name}" if len(gpus) > 1 else name
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        now = f"{cores} CPU core{'s' if cores != 1 else ''}"
    legs = recorded.split(", then ") if recorded else []
    return ", then ".join(legs if legs and legs[-1] == now else [*legs, now])


def _append_log(path: Path, epoch: int, logs: dict) -> None:
    new = not path.exists()
    keys = sorted(logs)
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["epoch", *keys])
        writer.writerow([epoch, *(f"{logs[k]:.6g}" for k in keys)])


def plot_curves(log_file: Path, png: Path) -> None:
    """The method's recipe: loss and pixel scores per epoch."""
    plot_log(log_file, png, "epoch", [("loss", "train"), ("val_loss", "validation")], "Tversky + focal Tversky loss",
             [("f1", "train F1"), ("val_f1", "validation F1"), ("val_iou", "validation IoU")],
             "pixel scores (threshold 0.5)")


def plot_log(log_file: Path, png: Path, x_key: str, left, left_title: str, right, right_title: str) -> None:
    """Two panels from a run's CSV log: ``left`` and ``right`` are (column, label) series;
    columns the log lacks are left out; the right panel is on 0-1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_file, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    xs = [int(r[x_key]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, series, title in ((axes[0], left, left_title), (axes[1], right, right_title)):
        for key, label in series:
            if key in rows[0]:
                ax.plot(xs, [float(r[key]) for r in rows], label=label)
        ax.set(title=title, xlabel=x_key)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
