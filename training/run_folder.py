"""What every training run writes in its folder, whatever the recipe: the model spec
(``spec.json``), the log (``log.csv``, one row per epoch), the curves drawn from it
(``curves.png``) and the hardware each leg of the run trained on (in ``state.json``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..core.model.spec import ModelSpec
from .data import PATCH


def model_spec(bands, mean, std, name: str, architecture: str, **extra) -> ModelSpec:
    """The spec Detect reads: the model's bands and their normalization, window, threshold
    and output; ``extra`` adds to or overrides it (``patch_size``, ``training``, ...)."""
    return ModelSpec.from_dict({
        "spec_version": 1, "name": name, "architecture": architecture, "bands": list(bands),
        "normalization": {"mean": list(mean), "std": list(std)}, "patch_size": PATCH, "size_multiple": 16,
        "threshold": 0.5, "output": "landslide_probability", "layout": "NHWC", **extra,
    })


def raw_spec(bands) -> ModelSpec:
    """A spec that builds the bands without normalizing them (for measuring their statistics)."""
    return model_spec(bands, [0.0] * len(bands), [1.0] * len(bands), "raw", "none")


def append_log(path: Path, epoch: int, row: dict) -> None:
    """One epoch's row of ``log.csv`` (the header, from the first row's keys, when new)."""
    new = not path.exists()
    keys = sorted(row)
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["epoch", *keys])
        writer.writerow([epoch, *(f"{row[k]:.6g}" for k in keys)])


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
