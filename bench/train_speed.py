"""Training and inference cost of each architecture at each width: the evidence behind
the default model's size. Prints a Markdown table; not a test.

For every architecture and base-filter count: parameters, seconds per training step
(batch 16 of 128 px x 4 bands, the default recipe's step: AdamW, BCE + Dice, presence
head) with and without XLA (``jit_compile``), and Detect's network throughput: windows
per second through ONNX Runtime (batch 8 of 128 px, random weights; the cost of a
network does not depend on its weights) and the seconds 400 Mpx would take at
window 128 / overlap 32 from that figure. Run it on an idle machine: every row shares
the same cores.

    .venv/bin/python bench/train_speed.py                       # all 4 x 3 x 2 (~15 min on 2 cores)
    .venv/bin/python bench/train_speed.py --architectures spatial --filters 16 32 --steps 5
"""

from __future__ import annotations

import argparse
import platform
import runpy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root

from landslide_mapper.training.architectures import ARCHITECTURES, build_model, gated_model  # noqa: E402

WINDOW, OVERLAP, BATCH, DETECT_BATCH = 128, 32, 16, 8


def seconds_per_step(architecture: str, filters: int, jit: bool, steps: int) -> float:
    import keras
    import tensorflow as tf
    from landslide_mapper.training.losses import MAP_LOSSES, binary_crossentropy

    keras.utils.set_random_seed(0)
    model = build_model(architecture, 4, filters, presence=True)
    optimizer = keras.optimizers.AdamW(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = MAP_LOSSES["bce_dice"]

    def step(x, y):
        with tf.GradientTape() as tape:
            probability, presence = model(x, training=True)
            loss = loss_fn(y, probability) + 0.5 * binary_crossentropy(tf.reduce_max(y, axis=(1, 2)), presence)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    step = tf.function(step, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, WINDOW, WINDOW, 4)).astype(np.float32)
    y = (rng.random((BATCH, WINDOW, WINDOW, 1)) > 0.9).astype(np.float32)
    float(step(x, y))  # trace and compile
    float(step(x, y))
    start = time.perf_counter()
    for _ in range(steps):
        float(step(x, y))
    return (time.perf_counter() - start) / steps


def detect_windows_per_second(architecture: str, filters: int, seconds: float = 8.0) -> tuple[int, float]:
    import onnxruntime as ort
    from landslide_mapper.training.export import prediction_onnx

    model = gated_model(build_model(architecture, 4, filters, presence=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.onnx"
        path.write_bytes(prediction_onnx(model, 4).SerializeToString())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).normal(size=(DETECT_BATCH, WINDOW, WINDOW, 4)).astype(np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: batch})
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, {name: batch})
        runs += 1
    return model.count_params(), runs * DETECT_BATCH / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--filters", nargs="+", type=int, default=[16, 24, 32])
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per row (after two warm-up)")
    args = parser.parse_args(argv)
    print(f"# {' '.join(sys.argv)}  |  {platform.node()}, {platform.processor() or platform.machine()}")
    print()
    print("| architecture | base filters | parameters | s/step | s/step (XLA) | Detect windows/s | 400 Mpx (min) |")
    print("|---|---|---|---|---|---|---|")
    stride = WINDOW - OVERLAP
    for architecture in args.architectures:
        for filters in args.filters:
            plain = seconds_per_step(architecture, filters, False, args.steps)
            jit = seconds_per_step(architecture, filters, True, args.steps)
            params, windows = detect_windows_per_second(architecture, filters)
            minutes = 400e6 / stride**2 / windows / 60
            print(f"| {architecture} | {filters} | {params / 1e6:.2f} M | {plain:.2f} | {jit:.2f} | {windows:.0f} | "
                  f"{minutes:.1f} |", flush=True)


if __name__ == "__main__":
    main()
