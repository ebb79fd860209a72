"""Export a trained run to ONNX: the prediction graph and the saliency graph, both
carrying the model spec in their metadata, each checked against TensorFlow first.

Saliency is the method's vanilla gradient (Eq. 11): for each window, the gradient of
the window's mean predicted probability with respect to the (normalized) input, its
absolute value averaged over the input bands. Windows are independent (batch norm runs
in inference mode), so the graph differentiates the *sum* of per-window means: each
window's gradient is then exactly that of its own mean, whatever the batch size.

With the run's dataset, the prediction graph is calibrated in memory before anything is
written (training/calibrate.py); the card comes from the finished spec (training/card.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.model.spec import METADATA_KEY, ModelSpec
from .datasets import Dataset, as_dataset
from .graph_rewrites import upsampling_as_depth_to_space

PREDICTION_TOLERANCE = 1e-4  # max abs difference, probability
SALIENCY_TOLERANCE = 0.01  # 99.9th percentile of the abs difference, as a share of the saliency's peak
OPSET = 17


def export_run(run_dir, out_path, dataset: Dataset | str | Path | None = None, check_patches: int = 8) -> list[Path]:
    """Export a run folder's best model: ``out_path`` (prediction), ``<name>_saliency.onnx``,
    the card (``.md``) and the curves, each written once, the spec validated once.

    ``dataset``: the dataset the run trained on (an object, or its folder). With it the
    graphs are checked on real windows of its validation images, and the model is
    calibrated (:mod:`training.calibrate`: threshold, object filter, input percentiles,
    resolution, test scores); without it they are checked on noise and nothing is calibrated.
    """
    import keras

    from . import losses  # noqa: F401  (registers the loss and metrics for loading)
    from .architectures import gated_model, has_presence_head, pixel_model
    from ..core.model.onnx_model import OnnxModel
    from .calibrate import calibrate, check_calibratable, model_windows, noise_windows, training_split
    from .card import model_card

    run, out = Path(run_dir), Path(out_path)
    saliency_out = out.with_name(out.stem + "_saliency.onnx")
    spec = {**run_spec(run), "saliency_model": saliency_out.name}
    model_spec = ModelSpec.from_dict(spec)  # the network's input: bands, normalization, patch size
    dataset = as_dataset(dataset)
    trained = keras.models.load_model(run / "best.keras", compile=False)
    # a model with a presence head exports as one graph: its map scaled by the window's
    # score, unless the validation images say the map alone is better
    model = gated_model(trained)
    split = val = None
    if dataset is not None:
        check_calibratable(model_spec)
        split = training_split(spec, dataset)
        val = dataset.samples(split.validation)  # read once: the check, the gate, threshold and filter use them
        batch = model_windows(model_spec, val[: check_patches * 4], check_patches)
        if has_presence_head(trained):
            effect = presence_gate_effect(trained, model_spec, val)
            effect["shipped"] = "map_alone" if effect["map_alone"]["f1"] > effect["gated"]["f1"] else "gated"
            model = pixel_model(trained) if effect["shipped"] == "map_alone" else model
            spec["metrics"] = {**spec.get("metrics", {}), "presence_gate": effect}
    else:
        batch = noise_windows(model_spec, check_patches)

    prediction = prediction_onnx(model, len(model_spec.bands))
    prediction_diff = check_prediction(model, prediction, batch)
    saliency = share_weights(saliency_onnx(model, len(model_spec.bands), model_spec.patch_size))
    saliency_bulk, saliency_worst = check_saliency(model, saliency, batch)
    spec["export_check"] = {
        "patches": len(batch), "real_patches": dataset is not None,
        "prediction_max_abs_diff": float(f"{prediction_diff:.3g}"),
        "saliency_p999_diff_share_of_peak": float(f"{saliency_bulk:.3g}"),
        "saliency_max_diff_share_of_peak": float(f"{saliency_worst:.3g}")}
    print(f"export check on {len(batch)} patches: prediction max |ONNX - TF| = {prediction_diff:.2e}; "
          f"saliency |ONNX - TF| = {saliency_bulk:.4%} of its peak (99.9th percentile), {saliency_worst:.3%} (max)")
    if dataset is not None:
        # calibrated on the graph in memory, as Detect runs it: each file is written once, afterwards
        set_spec(prediction, spec)
        start = Path(spec.get("training", {}).get("init_model") or "")
        spec = calibrate(OnnxModel(prediction.SerializeToString(), name=out.name), spec, dataset, split, val,
                         start=OnnxModel(start) if start.is_file() and dataset.resolution_m else None)
    spec = ModelSpec.from_dict(spec, source=str(run / "spec.json")).to_dict()  # validated once, as Detect reads it

    out.parent.mkdir(parents=True, exist_ok=True)
    write_with_spec(prediction, out, spec)
    write_with_spec(saliency, saliency_out, {**spec, "output": "saliency"})
    card = out.with_suffix(".md")
    card.write_text(model_card(spec, out.name))
    written = [out, saliency_out, card]
    if (run / "curves.png").exists():
        curves = out.with_name(out.stem + "_curves.png")
        curves.write_bytes((run / "curves.png").read_bytes())
        written.append(curves)
    return written


def run_spec(run: Path) -> dict:
    """A run folder's spec (``spec.json``) with what its ``state.json`` says about the
    training (``metrics``); a run without a state exports without them."""
    for name, why in (("spec.json", "not a training run folder"), ("best.keras", "no epoch has finished yet")):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run}: no {name} ({why}); `python -m training train --out {run}` makes one")
    spec = json.loads((run / "spec.json").read_text())
    state_file = run / "state.json"
    if not state_file.exists():
        print(f"{run}: no state.json: exported without training metrics (epochs, validation scores)")
        return spec
    state = json.loads(state_file.read_text())
    metrics = {
        "validation": {k.removeprefix("val_"): round(v, 4) for k, v in (state.get("best_scores") or {}).items()},
        "best_epoch": state.get("best_epoch"),
        "epochs_trained": state.get("epoch"),
        "stopped": state.get("stopped"),
    }
    if "step" in state:  # a step-based campaign (training/campaign.py)
        metrics.update(steps_trained=state["step"], best_step=state.get("best_step"), best_on=state.get("best_on"),
                       cpu_hours=round(state.get("seconds", 0.0) / 3600, 2), seconds_per_step=_seconds_per_step(run))
    if state.get("hardware"):
        metrics["hardware"] = state["hardware"]
    return {**spec, "metrics": metrics}


def presence_gate_effect(trained, spec: ModelSpec, val: list) -> dict:
    """Validation scores (the validation images as one scene, as Detect runs, best threshold
    each) of the map alone and of the map gated by the presence head: the evidence for
    shipping the gate."""
    from .architectures import gated_model, pixel_model
    from .campaign import validation_scores
    from .evaluate import ValidationMosaic

    effect, scene = {}, ValidationMosaic.of(val)
    for name, variant in (("map_alone", pixel_model(trained)), ("gated", gated_model(trained))):
        threshold, scores = validation_scores(variant, spec, val, scene)["mosaic"]
        effect[name] = {"threshold": threshold, **{k: scores[k] for k in (
            "f1", "precision", "recall", "false_alarm_objects", "landslide_free_images_with_detections")}}
    print("presence gate on validation:", json.dumps(effect))
    return effect


def _seconds_per_step(run: Path) -> float | None:
    """The median training seconds per step over the run's epochs (validation excluded)."""
    import csv

    log_file = run / "log.csv"
    if not log_file.exists():
        return None
    with open(log_file, newline="") as f:
        values = [float(r["seconds_per_step"]) for r in csv.DictReader(f) if r.get("seconds_per_step")]
    return round(float(np.median(values)), 3) if values else None


def prediction_onnx(model, n_bands: int):
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, None, None, n_bands), tf.float32, name="input")]

    @tf.function(input_signature=signature)
    def predict(x):
        return {"probability": model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(predict, input_signature=signature, opset=OPSET)
    upsampling_as_depth_to_space(proto)  # same values; INT8 then quantizes the upsampling too
    return proto


def saliency_onnx(model, n_bands: int, patch_size: int):
    """The saliency graph for one window of ``patch_size`` pixels at a time: with every
    shape static, TensorFlow folds the gradient's shape arithmetic (BroadcastGradientArgs,
    ConcatOffset) into constants, which ONNX has no equivalent for."""
    import tensorflow as tf
    import tf2onnx

    from . import gradient_ops  # noqa: F401  (tf2onnx handlers for the gradient ops)

    signature = [tf.TensorSpec((1, patch_size, patch_size, n_bands), tf.float32, name="input")]

    @tf.function(input_signature=signature)
    def saliency(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = model(x, training=False)
            window_means = tf.reduce_sum(tf.reduce_mean(p, axis=[1, 2, 3]))
        grad = tape.gradient(window_means, x)
        return {"saliency": tf.reduce_mean(tf.abs(grad), axis=-1)}

    proto, _ = tf2onnx.convert.from_function(saliency, input_signature=signature, opset=OPSET)
    return proto


def share_weights(proto, min_elements: int = 64):
    """Store each weight tensor of a graph once.

    tf2onnx's saliency graph holds every convolution's kernel twice: folded with its batch
    normalization for the forward pass (kernel x per-channel scale) and raw for the
    backward pass, which doubles the file. Every initializer that is a transpose of another,
    optionally times a per-channel scale, is replaced by Transpose/Mul nodes over the
    other; ONNX Runtime folds those constants when the session is created, so inference
    is unchanged. The export check then runs on the shared graph.
    """
    import itertools

    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer
              if i.data_type == TensorProto.FLOAT and np.prod(i.dims) >= min_elements}
    kept: list[str] = []
    derived: dict[str, tuple] = {}
    for name in sorted(arrays, key=lambda n: (-arrays[n].size, n)):
        target = arrays[name]
        for source in kept:
            relation = _derivation(arrays[source], target, itertools.permutations(range(target.ndim)))
            if relation is not None:
                derived[name] = (source, *relation)
                break
        else:
            kept.append(name)
    if not derived:
        return proto
    nodes = []
    for name, (source, perm, scale) in derived.items():
        value = source
        if perm != tuple(range(len(perm))):
            value = f"{name}__shared_transpose"
            nodes.append(helper.make_node("Transpose", [source], [value], perm=list(perm)))
        if scale is None:
            nodes.append(helper.make_node("Identity", [value], [name]))
        else:
            scale_name = f"{name}__shared_scale"
            graph.initializer.append(numpy_helper.from_array(scale, scale_name))
            nodes.append(helper.make_node("Mul", [value, scale_name], [name]))
    remaining = [i for i in graph.initializer if i.name not in derived]
    del graph.initializer[:]
    graph.initializer.extend(remaining)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    return proto


def _derivation(source: np.ndarray, target: np.ndarray, perms):
    """(perm, scale) with target == source.transpose(perm) * scale, scale None or a
    per-channel float32 array broadcastable along one axis; None if there is none."""
    if source.size != target.size or source.ndim != target.ndim:
        return None
    for perm in perms:
        moved = source.transpose(perm)
        if moved.shape != target.shape:
            continue
        if np.array_equal(moved, target):
            return tuple(perm), None
        for axis in range(target.ndim):
            others = tuple(a for a in range(target.ndim) if a != axis)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(moved != 0, target / moved, np.nan)
            if np.isnan(ratio).all(axis=others).any():
                continue
            scale = np.nanmedian(ratio, axis=others, keepdims=True).astype(np.float32)
            if np.allclose(moved * scale, target, rtol=1e-6, atol=0):
                return tuple(perm), scale
    return None


def tf_saliency(model, batch: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    x = tf.convert_to_tensor(batch)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.reduce_mean(model(x, training=False), axis=[1, 2, 3]))
    return np.mean(np.abs(tape.gradient(total, x).numpy()), axis=-1)


def _run(proto, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def check_prediction(model, proto, batch: np.ndarray) -> float:
    expected = model(batch, training=False).numpy()
    diff = float(np.abs(_run(proto, batch) - expected).max())
    if diff > PREDICTION_TOLERANCE:
        raise RuntimeError(f"ONNX prediction differs from TensorFlow by {diff:.2e} (> {PREDICTION_TOLERANCE})")
    return diff


def check_saliency(model, proto, batch: np.ndarray) -> tuple[float, float]:
    """(99.9th percentile, max) of |ONNX - TF| saliency as shares of its peak.

    The percentile must be within 1 %. The max is reported, not bounded: a ReLU whose
    input is within float rounding of 0 can switch a gradient path on in one runtime and
    off in the other, which moves a few isolated pixels (seen: up to ~2 % of the peak on
    a trained model) without any conversion error.
    """
    expected = tf_saliency(model, batch)
    got = np.concatenate([_run(proto, batch[i : i + 1]) for i in range(len(batch))])
    peak = max(float(expected.max()), 1e-12)
    difference = np.abs(got - expected)
    bulk, worst = float(np.percentile(difference, 99.9) / peak), float(difference.max() / peak)
    if bulk > SALIENCY_TOLERANCE:
        raise RuntimeError(f"ONNX saliency differs from TensorFlow by {bulk:.2%} of its peak on 0.1 % of pixels (> 1%)")
    return bulk, worst


def set_spec(proto, spec: dict) -> None:
    """Carry ``spec`` in the model's metadata (replacing any other properties)."""
    from onnx import helper

    helper.set_model_props(proto, {METADATA_KEY: json.dumps(spec, sort_keys=True)})


def write_with_spec(proto, path: Path, spec: dict) -> None:
    import onnx

    set_spec(proto, spec)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
