"""Export a trained run to ONNX: the prediction graph and the saliency graph, both
carrying the model spec in their metadata, each checked against TensorFlow first.

Saliency is the method's vanilla gradient (Eq. 11): for each window, the gradient of
the window's mean predicted probability with respect to the (normalized) input, its
absolute value averaged over the input bands. Windows are independent (batch norm runs
in inference mode), so the graph differentiates the *sum* of per-window means: each
window's gradient is then exactly that of its own mean, whatever the batch size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.model.spec import METADATA_KEY, ModelSpec

PREDICTION_TOLERANCE = 1e-4  # max abs difference, probability
SALIENCY_TOLERANCE = 0.01  # 99.9th percentile of the abs difference, as a share of the saliency's peak
OPSET = 17


def export_run(run_dir, out_path, data=None, check_patches: int = 8) -> list[Path]:
    import keras

    from . import losses  # noqa: F401  (registers the loss and metrics for loading)
    from .architectures import gated_model, has_presence_head, pixel_model

    run = Path(run_dir)
    spec_dict = json.loads((run / "spec.json").read_text())
    state_file = run / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        spec_dict["metrics"] = {
            "validation": {k.removeprefix("val_"): round(v, 4) for k, v in (state.get("best_scores") or {}).items()},
            "best_epoch": state.get("best_epoch"),
            "epochs_trained": state.get("epoch"),
            "stopped": state.get("stopped"),
        }
        if "step" in state:  # a step-based campaign (training/campaign.py)
            spec_dict["metrics"].update(steps_trained=state["step"], best_step=state.get("best_step"),
                                        cpu_hours=round(state.get("seconds", 0.0) / 3600, 2),
                                        seconds_per_step=_seconds_per_step(run))
    out = Path(out_path)
    saliency_out = out.with_name(out.stem + "_saliency.onnx")
    spec_dict["saliency_model"] = saliency_out.name
    spec = ModelSpec.from_dict(spec_dict)
    trained = keras.models.load_model(run / "best.keras", compile=False)
    # a model with a presence head exports as one graph: its map scaled by the window's
    # score, unless the validation images say the map alone is better
    model = gated_model(trained)
    val_share = spec.extra.get("training", {}).get("dataset", {}).get("val_share", 0.3)
    batch = check_inputs(spec, data, check_patches, val_share)
    val = None
    if data:
        from .data import bijie_split, read_bijie

        val = read_bijie(data, bijie_split(data, val_share)[1])  # read once: the gate, threshold and filter use them
    if val is not None and has_presence_head(trained):
        effect = presence_gate_effect(trained, spec, val)
        effect["shipped"] = "map_alone" if effect["map_alone"]["f1"] > effect["gated"]["f1"] else "gated"
        model = pixel_model(trained) if effect["shipped"] == "map_alone" else model
        spec = ModelSpec.from_dict({**spec.to_dict(), "metrics": {**spec.extra.get("metrics", {}),
                                                                   "presence_gate": effect}})

    prediction = prediction_onnx(model, len(spec.bands))
    prediction_diff = check_prediction(model, prediction, batch)
    saliency = share_weights(saliency_onnx(model, len(spec.bands), spec.patch_size))
    saliency_bulk, saliency_worst = check_saliency(model, saliency, batch)
    spec = ModelSpec.from_dict({**spec.to_dict(), "export_check": {
        "patches": len(batch), "real_patches": bool(data),
        "prediction_max_abs_diff": float(f"{prediction_diff:.3g}"),
        "saliency_p999_diff_share_of_peak": float(f"{saliency_bulk:.3g}"),
        "saliency_max_diff_share_of_peak": float(f"{saliency_worst:.3g}")}})
    print(f"export check on {len(batch)} patches: prediction max |ONNX - TF| = {prediction_diff:.2e}; "
          f"saliency |ONNX - TF| = {saliency_bulk:.4%} of its peak (99.9th percentile), {saliency_worst:.3%} (max)")

    out.parent.mkdir(parents=True, exist_ok=True)
    write_with_spec(prediction, out, spec.to_dict())
    written = [out]
    if data:
        spec = calibrate(prediction, out, spec, data, val_share, val)
    write_with_spec(saliency, saliency_out, {**spec.to_dict(), "output": "saliency"})
    written.append(saliency_out)
    card = out.with_suffix(".md")
    card.write_text(model_card(spec.to_dict(), out.name))
    written.append(card)
    if (run / "curves.png").exists():
        curves = out.with_name(out.stem + "_curves.png")
        curves.write_bytes((run / "curves.png").read_bytes())
        written.append(curves)
    return written


def presence_gate_effect(trained, spec: ModelSpec, val: list) -> dict:
    """Validation scores (whole images, as Detect runs, best threshold each) of the map
    alone and of the map gated by the presence head: the evidence for shipping the gate."""
    from .architectures import gated_model, pixel_model
    from .campaign import validation_scores

    effect = {}
    for name, variant in (("map_alone", pixel_model(trained)), ("gated", gated_model(trained))):
        threshold, scores = validation_scores(variant, spec, val)
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


def calibrate(prediction, out: Path, spec: ModelSpec, data, val_share: float, val: list) -> ModelSpec:
    """What an exported model learns from its validation images, then its test scores.

    On the validation images, run through the engine as Detect runs: the threshold (best
    pixel F1 over a fine grid) and the object filter (fitted on the objects Detect would
    draw there). The training images give the input percentiles Detect's scaling maps
    other imagery onto. The test images are scored once, at the end, raw and as Detect
    gives them by default (minimum area, object filter). ``val``: the validation images,
    read once by the caller. Writes the model as it goes.
    """
    from ..core.detect.pipeline import DEFAULT_MIN_AREA_M2
    from ..core.model.onnx_model import OnnxModel
    from ..core.model.object_filter import fit_object_filter

    from .data import BIJIE_RESOLUTION_M, bijie_split, read_bijie
    from .evaluate import best_threshold_of, detect_objects, detect_scores, predict_sample, score_probabilities

    train_ids, _, test_ids = bijie_split(data, val_share)
    spec_dict = {**spec.to_dict(), "resolution_m": BIJIE_RESOLUTION_M,
                 "input_percentiles": input_percentiles(read_bijie(data, train_ids), spec)}
    spec_dict.pop("object_filter", None)
    write_with_spec(prediction, out, spec_dict)
    model = OnnxModel(out)
    val_probabilities = [predict_sample(model, s) for s in val]
    threshold, val_scores = best_threshold_of(val_probabilities, [s.mask for s in val])
    object_filter, fit = fit_object_filter(detect_objects(
        val_probabilities, [s.mask for s in val], threshold, BIJIE_RESOLUTION_M, DEFAULT_MIN_AREA_M2))
    spec_dict.update(threshold=threshold, object_filter={**object_filter.to_dict(), "note": (
        f"Fitted on {fit['objects']} objects ({fit['true_objects']} true) of {len(val)} validation images at "
        f"threshold {threshold}, minimum area {DEFAULT_MIN_AREA_M2:g} m²")})
    metrics = spec_dict.setdefault("metrics", {})
    metrics["validation_images"] = {**val_scores, "note": "threshold chosen for best F1 here"}
    metrics["validation_detect"] = {"without_filter": fit["without_filter"], "with_filter": fit["with_filter"]}
    test = read_bijie(data, test_ids)
    test_probabilities = [predict_sample(model, s) for s in test]
    masks = [s.mask for s in test]
    source = "Bijie held-out split (training/splits/bijie_test.json)"
    metrics["test"] = {**score_probabilities(test_probabilities, masks, [threshold])[threshold], "data": source}
    objects = detect_objects(test_probabilities, masks, threshold, BIJIE_RESOLUTION_M, DEFAULT_MIN_AREA_M2)
    metrics["test_detect"] = {"with_filter": detect_scores(objects, threshold, DEFAULT_MIN_AREA_M2, object_filter),
                              "without_filter": detect_scores(objects, threshold, DEFAULT_MIN_AREA_M2)}
    spec = ModelSpec.from_dict(spec_dict)
    write_with_spec(prediction, out, spec.to_dict())
    print(f"threshold {threshold} (best validation F1 {val_scores['f1']}); object filter cut {object_filter.cut}: "
          f"validation {json.dumps(fit['with_filter'])}")
    print("held-out test, as Detect gives it:", json.dumps(metrics["test_detect"]["with_filter"]))
    return spec


def input_percentiles(samples, spec: ModelSpec, per_image: int = 2000, seed: int = 0) -> dict:
    """The 2nd and 98th percentiles of the training imagery, per image band the model
    reads (a sample of pixels from every image)."""
    from ..core.imagery.scaling import PERCENTILES

    rng = np.random.default_rng(seed)
    picked = {name: [] for name in spec.image_bands}
    for sample in samples:
        size = sample.mask.size
        index = rng.choice(size, size=min(per_image, size), replace=False)
        for name in spec.image_bands:
            picked[name].append(sample.sources[name].reshape(-1)[index])
    low, high = zip(*(np.percentile(np.concatenate(v), PERCENTILES) for v in picked.values()))
    return {"low": [round(float(x), 2) for x in low], "high": [round(float(x), 2) for x in high],
            "bands": list(spec.image_bands), "percentiles": list(PERCENTILES)}


PAPER = "published: F1 0.73 / IoU 0.58 (spatial attention), 0.70-0.71 (others); Bijie benchmark F1 0.79, precision 0.83"


def _recipe_lines(training: dict, metrics: dict) -> list[str]:
    if "recipe" not in training:  # the method's recipe (training/train.py)
        return [
            f"- Adam, lr {training.get('learning_rate')}, batch {training.get('batch_size')}, Tversky + focal Tversky "
            f"loss, augmentation (flips, blur, sharpening, shear, rotation); early stopping patience "
            f"{training.get('patience')}.",
            f"- Epochs trained: {metrics.get('epochs_trained')}; best validation loss at epoch {metrics.get('best_epoch')}."]
    mix = training.get("mix", {})
    return [
        f"- Recipe: {training['recipe']} (training/campaign.py). AdamW (weight decay {training.get('weight_decay')}), "
        f"linear warm-up over {training.get('warmup_steps')} steps to {training.get('peak_learning_rate')}, cosine decay "
        f"to {training.get('final_learning_rate')} at step {training.get('steps')}; batch {training.get('batch_size')}.",
        f"- Crops of 128 px drawn afresh every step from whole images: {mix.get('positive_share')} of them centred on a "
        "landslide pixel (with jitter), the rest anywhere in any training image, half of those chosen by the model's "
        "recent false alarms (hard negatives); augmentation (flips, blur, sharpening, shear, rotation).",
        f"- Trained {metrics.get('steps_trained')} steps ({metrics.get('cpu_hours')} CPU-hours on two cores, "
        f"{metrics.get('seconds_per_step')} s/step); kept: step {metrics.get('best_step')}, the best validation F1 "
        f"(whole validation images run as Detect runs, every {training.get('epoch_steps')} steps).",
        *([f"- {training['note']}"] if training.get("note") else [])]


def _progress(training: dict, metrics: dict) -> str:
    if "recipe" in training:
        return f"{metrics.get('steps_trained')} of the schedule's {training.get('steps')} steps"
    return f"{metrics.get('epochs_trained')} of up to {training.get('epochs')} epochs"


def model_card(spec: dict, filename: str) -> str:
    """A model card in Markdown, written from the spec alone (so it cannot drift from it)."""
    training = spec.get("training", {})
    metrics = spec.get("metrics", {})
    val, test = metrics.get("validation", {}), metrics.get("test", {})

    def row(scores):
        return " | ".join(f"{scores.get(k, float('nan')):.3f}" for k in ("precision", "recall", "f1", "iou", "accuracy"))

    lines = [
        f"# {spec['name']} — model card", "",
        f"`{filename}` (+ `{spec.get('saliency_model', '')}`, the saliency graph). Architecture: "
        f"**{spec['architecture']}**, {training.get('base_filters', '?')} base filters, 1x1 conv + sigmoid head.", "",
        "## Input", "",
        f"- Bands, in order: {', '.join(spec['bands'])} (brightness = sqrt((R²+G²+B²)/3)).",
        f"- Normalization (x - mean) / std: mean {spec['normalization']['mean']}, std {spec['normalization']['std']}.",
        f"- Patch {spec['patch_size']} px, any window that is a multiple of {spec['size_multiple']}; "
        f"threshold {spec['threshold']} (chosen for the best F1 on the validation images; the method uses 0.5). "
        "Values are 8-bit display values, as in the training images.", "",
        "## Training", "",
        f"- Data: {json.dumps(training.get('dataset', {}))}; {training.get('train_images', '?')} training and "
        f"{training.get('val_images', '?')} validation images (split by image), " + (
            "crops of 128 px drawn from them at native resolution." if "recipe" in training else
            f"{training.get('train_patches', '?')} / {training.get('val_patches', '?')} patches of 128 px at native "
            "resolution."),
        *_recipe_lines(training, metrics), "",
        "## Measured quality", "",
        "| data | precision | recall | F1 | IoU | accuracy |", "|---|---|---|---|---|---|",
        # the default recipe validates on whole images already: its row would repeat the next one
        *([] if "recipe" in training else [f"| validation patches (threshold 0.5, during training) | {row(val)} |"]),
    ]
    val_images = metrics.get("validation_images")
    if val_images:
        lines.append(f"| validation images, run as Detect runs (threshold {spec['threshold']}) | {row(val_images)} |")
    if test:
        lines += [
            f"| **held-out test images ({test.get('images')}), run as Detect runs (threshold {spec['threshold']})** | "
            f"{row(test)} |", "",
            f"Objects in the test images: {test.get('objects_detected')} detected, {test.get('objects_missed')} missed; "
            f"{test.get('landslide_free_images_with_detections')} of {test.get('landslide_free_images')} "
            "landslide-free images have at least one false detection.",
        ]
    detect = metrics.get("test_detect")
    if detect:
        lines += ["", "What Detect gives by default on the same test images (polygons of at least "
                  f"{detect['with_filter'].get('min_area_m2', 100):g} m²):", "",
                  "| polygons | F1 (landslide images) | F1 (all images) | precision | recall | landslides found | "
                  "false-alarm objects | landslide-free images flagged |", "|---|---|---|---|---|---|---|---|"]
        for key, label in (("without_filter", "every polygon"), ("with_filter", "**object filter on (default)**")):
            d = detect[key]
            lines.append(
                f"| {label} | {d['f1_landslide_images']:.3f} | {d['f1']:.3f} | {d['precision']:.3f} | "
                f"{d['recall']:.3f} | {d['objects_detected']} / {d['objects_detected'] + d['objects_missed']} | "
                f"{d['false_alarm_objects']} | {d['landslide_free_images_with_detections']} / "
                f"{d['landslide_free_images']} |")
    gate = metrics.get("presence_gate")
    if gate:
        a, g = gate["map_alone"], gate["gated"]
        lines += ["", f"Presence head, measured on the validation images: pixel F1 {a['f1']:.3f} for the map alone "
                  f"(threshold {a['threshold']}), {g['f1']:.3f} with the map gated by the window's presence score "
                  f"(threshold {g['threshold']}); landslide-free images flagged {a['landslide_free_images_with_detections']}"
                  f" vs {g['landslide_free_images_with_detections']}. The graph ships "
                  f"{'the gated map' if gate.get('shipped') == 'gated' else 'the map alone'}, the better of the two."]
    object_filter = spec.get("object_filter")
    if object_filter:
        weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(object_filter["features"], object_filter["weights"]))
        lines += ["", "## Object filter", "",
                  f"A logistic model over each polygon's standardized features ({weights}; bias "
                  f"{object_filter['bias']:+.2f}); polygons scoring under {object_filter['cut']} are set aside as likely "
                  f"false alarms. {object_filter.get('note', '')}. The cut is the one with the best validation F1 "
                  "that loses at most 2 % of the landslides found without it."]
    check = spec.get("export_check", {})
    lines += [
        "", f"Method paper, for comparison ({PAPER}); those figures use R, G, B, brightness *and slope* on other "
        "splits, so they are a reference, not a like-for-like comparison.", "",
        "## Export check", "",
        f"On {check.get('patches')} {'real' if check.get('real_patches') else 'random'} patches: prediction max "
        f"|ONNX − TensorFlow| = {check.get('prediction_max_abs_diff')}; saliency difference = "
        f"{check.get('saliency_p999_diff_share_of_peak')} of its peak at the 99.9th percentile, "
        f"{check.get('saliency_max_diff_share_of_peak')} at the worst pixel (ReLU inputs within rounding of 0 "
        "switch a gradient path between runtimes at isolated pixels).", "",
        "## Limits", "",
        *([f"- An early checkpoint: {_progress(training, metrics)}, stopped by the training time budget (CPU "
           "training on two cores); `--resume` continues it from its run folder."]
          if str(metrics.get("stopped") or "").startswith("time limit") else []),
        "- Trained on Bijie (Guizhou, China) imagery only: expect lower quality on other landscapes and sensors.",
        "- No slope band (the copy of Bijie available has no DEM), so terrain is not used.",
        "",
    ]
    return "\n".join(lines)


def check_inputs(spec: ModelSpec, data, count: int, val_share: float = 0.3) -> np.ndarray:
    """Real normalized NHWC patches when a dataset is given (its validation images),
    else seeded normal noise: what the exported graphs are checked on."""
    from ..core.imagery.bands import build_stack

    if data:
        from .data import bijie_split, cut_patches, read_bijie

        _, val_ids, _ = bijie_split(data, val_share)
        stacks = []
        for sample in read_bijie(data, val_ids[: count * 4]):
            for sources, mask in cut_patches(sample):
                if mask.any():
                    stacks.append(build_stack(spec, sources).transpose(1, 2, 0))
                    break
            if len(stacks) == count:
                break
        return np.stack(stacks).astype(np.float32)
    rng = np.random.default_rng(0)
    return rng.normal(size=(count, spec.patch_size, spec.patch_size, len(spec.bands))).astype(np.float32)


def prediction_onnx(model, n_bands: int):
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, None, None, n_bands), tf.float32, name="input")]

    @tf.function(input_signature=signature)
    def predict(x):
        return {"probability": model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(predict, input_signature=signature, opset=OPSET)
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


def write_with_spec(proto, path: Path, spec: dict) -> None:
    import onnx
    from onnx import helper

    helper.set_model_props(proto, {METADATA_KEY: json.dumps(spec, sort_keys=True)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
