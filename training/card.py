"""The model card: Markdown written from the spec alone (so it cannot drift from it).

What it says about the training data comes from the spec's ``training.dataset`` (through
:func:`training.datasets.facts`), the hardware from its ``metrics``; nothing is assumed.
"""

from __future__ import annotations


from .data import PATCH
from .datasets import facts as dataset_facts
from .recipes import DefaultRecipe, recipe_of

PAPER = "published: F1 0.73 / IoU 0.58 (spatial attention), 0.70-0.71 (others); Bijie benchmark F1 0.79, precision 0.83"


def _default_recipe(training: dict) -> bool:
    return recipe_of(training) == DefaultRecipe.name


def _recipe_lines(training: dict, metrics: dict, patch: int) -> list[str]:
    if not _default_recipe(training):  # the method's recipe (--recipe paper)
        return [
            f"- The method's recipe (training/campaign.py, --recipe paper): Adam, lr {training.get('learning_rate')}, "
            f"batch {training.get('batch_size')}, Tversky + focal Tversky loss, augmentation (flips, blur, sharpening, "
            f"shear, rotation); learning rate x{training.get('lr_factor')} after {training.get('lr_patience')} epochs "
            f"without a better validation loss, early stopping after {training.get('patience')}.",
            f"- Epochs trained: {metrics.get('epochs_trained')}; best validation loss at epoch {metrics.get('best_epoch')}."]
    mix = training.get("mix", {})
    return [
        f"- Recipe: {training['recipe']} (training/campaign.py). AdamW (weight decay {training.get('weight_decay')}), "
        f"linear warm-up over {training.get('warmup_steps')} steps to {training.get('peak_learning_rate')}, cosine decay "
        f"to {training.get('final_learning_rate')} at step {training.get('steps')}; batch {training.get('batch_size')}.",
        f"- Crops of {patch} px drawn afresh every step from whole images: {mix.get('positive_share')} of them "
        + ("holding a landslide pixel anywhere in the crop, the rest anywhere in any training image, half of those "
           "chosen by the model's recent false alarms (hard negatives); past its image's edges a crop sees other "
           "training images (mosaic context, labelled), as in a scene, not the image mirrored; "
           if mix.get("context") == "mosaic" else
           "centred on a landslide pixel (with jitter), the rest anywhere in any training image, half of those chosen "
           "by the model's recent false alarms (hard negatives); ")
        + "augmentation (flips, blur, sharpening, shear, rotation"
        + ("; field jitter: ground resolution 0.6-1.5x, colour response, exposure, haze, nodata collars"
           if mix.get("field_augment") else "")
        + (f"; {mix['copy_paste']:g} of the crops without a drawn landslide get one pasted in from another image"
           if mix.get("copy_paste") else "") + ").",
        f"- Trained {metrics.get('steps_trained')} steps ({_hours(metrics)}, "
        f"{metrics.get('seconds_per_step')} s/step); kept: step {metrics.get('best_step')}, the best validation F1 "
        + (f"(the validation images run as one scene, as Detect runs, every {training.get('epoch_steps')} steps)."
           if metrics.get("best_on") == "validation mosaic" else
           f"(whole validation images run as Detect runs, every {training.get('epoch_steps')} steps)."),
        *([f"- Started from the weights {training['init_weights']}, not from scratch; the figures above are this "
            "run's alone."] if training.get("init_weights") else []),
        *([f"- {training['note']}"] if training.get("note") else [])]


def _data_line(dataset: dict, data) -> str:
    """The training data in words: which, where, and how it was split."""
    parts = [f"{data.title}{f' ({data.place})' if data.place else ''}"]
    if dataset.get("path"):
        parts.append(f"from `{dataset['path']}`")
    if dataset.get("val_share") is not None:
        parts.append(f"{dataset['val_share']:.0%} of the images validate")
    if dataset.get("split"):
        parts.append(f"test images: {dataset['split']}")
    known = {"name", "path", "val_share", "split"}
    parts += [f"{k} {v}" for k, v in dataset.items() if k not in known]
    return ", ".join(parts)


def _hours(metrics: dict) -> str:
    """The run's training time, on the hardware it records (runs that predate recording
    it trained on CPUs)."""
    hardware = metrics.get("hardware")
    return f"{metrics.get('cpu_hours')} hours on {hardware}" if hardware else f"{metrics.get('cpu_hours')} CPU-hours"


def _progress(training: dict, metrics: dict) -> str:
    if _default_recipe(training):
        return f"{metrics.get('steps_trained')} of the schedule's {training.get('steps')} steps"
    return f"{metrics.get('epochs_trained')} of up to {training.get('epochs')} epochs"


def _with_interval(scores: dict, key: str) -> str:
    interval = scores.get("intervals", {}).get(key)
    return f"{scores[key]:.3f}" + (f" ({interval[0]:.2f}-{interval[1]:.2f})" if interval else "")


MIN_IMAGES_FOR_INTERVALS = 5


def _before_after_lines(comparison: dict | None) -> list[str]:
    """The starting model and this one on the validation images (a raster's held-out regions)."""
    if not comparison:
        return []
    few = comparison["images"] < MIN_IMAGES_FOR_INTERVALS
    if few:  # an interval over one or two images says nothing
        comparison = {**comparison, "gain_intervals": {},
                      **{k: {**comparison[k], "intervals": {}} for k in ("before", "after")}}
    lines = ["", "## Before and after", "",
             f"The model it started from ({comparison['starting_model']}) and this one, each at its own threshold and "
             f"with its own object filter, on the {comparison['images']} validation images (or held-out regions) run "
             "as one scene, as Detect gives it (polygons of at least 100 m²; 95 % bootstrap intervals over the "
             + (f"with only {comparison['images']} of them no interval can be given: hold out a larger share, or "
                "train on a larger raster, to know how far to trust the difference):" if few else
                "images in brackets: with few of them, wide):"), "",
             "| model | F1 (landslide images) | F1 (all images) | recall | landslides found | "
             "landslide-free images flagged |", "|---|---|---|---|---|---|"]
    for key, label in (("before", f"before: {comparison['starting_model']}"), ("after", "**after: this model**")):
        d = comparison[key]
        lines.append(f"| {label} | {_with_interval(d, 'f1_landslide_images')} | {_with_interval(d, 'f1')} | "
                     f"{_with_interval(d, 'recall')} | {d['objects_detected']} / "
                     f"{d['objects_detected'] + d['objects_missed']} | {d['landslide_free_images_with_detections']} / "
                     f"{d['landslide_free_images']} |")
    gain = comparison.get("gain_intervals", {})
    if gain:
        after, before = comparison["after"], comparison["before"]
        lines += ["", "Gain, after minus before, with its paired interval (the same images drawn for both): " + "; ".join(
            f"{k.replace('_', ' ')} {after[k] - before[k]:+.3f} ({low:+.3f} to {high:+.3f})"
            for k, (low, high) in gain.items()) + "."]
    return lines


def model_card(spec: dict, filename: str) -> str:
    """A model card in Markdown, written from the spec alone (so it cannot drift from it)."""
    training = spec.get("training", {})
    metrics = spec.get("metrics", {})
    data = dataset_facts(training.get("dataset", {}))
    patch = spec["patch_size"]
    calibrated = "validation_images" in metrics
    on_scene = "validation_scene" in metrics  # calibrated on the validation images run as one scene
    hardware = metrics.get("hardware")
    val, test = metrics.get("validation", {}), metrics.get("test", {})

    def row(scores):
        return " | ".join(f"{scores.get(k, float('nan')):.3f}" for k in ("precision", "recall", "f1", "iou", "accuracy"))

    lines = [
        f"# {spec['name']} — model card", "",
        f"`{filename}` (+ `{spec.get('saliency_model', '')}`, the saliency graph). Architecture: "
        f"**{spec['architecture']}**, {training.get('base_filters', '?')} base filters"
        f"{_dilated(training.get('bottleneck_dilations'))}, 1x1 conv + sigmoid head.", "",
        "## Input", "",
        f"- Bands, in order: {', '.join(spec['bands'])}"
        f"{' (brightness = sqrt((R²+G²+B²)/3))' if 'brightness' in spec['bands'] else ''}.",
        f"- Normalization (x - mean) / std: mean {spec['normalization']['mean']}, std {spec['normalization']['std']}.",
        f"- Patch {spec['patch_size']} px, any window that is a multiple of {spec['size_multiple']}; "
        f"threshold {spec['threshold']} ("
        f"{('chosen for the best F1 on the validation images run as one scene; ' if on_scene else 'chosen for the best F1 on the validation images; ') if calibrated else ''}the method uses 0.5). "
        f"Values are {data.values}, as in the training images.", "",
        "## Training", "",
        f"- Data: {_data_line(training.get('dataset', {}), data)}; " + (
            # the default recipe counts a dataset of patches' patches as its images
            f"{training.get('train_patches', training.get('train_images', '?'))} training and "
            f"{training.get('val_patches', training.get('val_images', '?'))} validation patches of {PATCH} px at "
            "native resolution (split by patch)" + (f", crops of {patch} px drawn from them." if _default_recipe(
                training) else ".") if data.by_patch else
            f"{training.get('train_images', '?')} training and {training.get('val_images', '?')} validation images "
            "(split by image), " + (
                f"crops of {patch} px drawn from them at native resolution." if _default_recipe(training) else
                f"{training.get('train_patches', '?')} / {training.get('val_patches', '?')} patches of {patch} px at "
                "native resolution.")),
        *_recipe_lines(training, metrics, patch), "",
        "## Measured quality", "",
        "| data | precision | recall | F1 | IoU | accuracy |", "|---|---|---|---|---|---|",
        # the default recipe validates on whole images already: its row would repeat the next one
        *([] if _default_recipe(training) else [f"| validation patches (threshold 0.5, during training) | {row(val)} |"]),
    ]
    val_images = metrics.get("validation_images")
    if on_scene:
        lines.append(f"| validation images as one scene, run as Detect runs (threshold {spec['threshold']}, chosen "
                     f"here) | {row(metrics['validation_scene'])} |")
    if val_images:
        alone = "each alone, borders mirrored, " if on_scene else ""
        lines.append(f"| validation images, {alone}run as Detect runs (threshold {spec['threshold']}) | "
                     f"{row(val_images)} |")
    if test:
        lines.append(f"| **held-out test images ({test.get('images')}), each alone, run as Detect runs (threshold "
                     f"{spec['threshold']})** | {row(test)} |")
        if metrics.get("test_scene"):
            lines.append(f"| **the same test images as one scene** | {row(metrics['test_scene'])} |")
        lines += [
            "",
            f"Objects in the test images: {test.get('objects_detected')} detected, {test.get('objects_missed')} missed; "
            f"{test.get('landslide_free_images_with_detections')} of {test.get('landslide_free_images')} "
            "landslide-free images have at least one false detection.",
        ]
    views = [(key, label) for key, label in (("test_detect", "each image alone"), ("test_scene_detect", "as one scene"))
             if metrics.get(key)]
    if views:
        first = metrics[views[0][0]]["with_filter"]
        lines += ["", "What Detect gives by default on the same test images (polygons of at least "
                  f"{first.get('min_area_m2', 100):g} m²; in brackets, 95 % bootstrap intervals over the images: "
                  "another sample of Bijie images would move a figure that much):", "",
                  "| test images | polygons | F1 (landslide images) | F1 (all images) | precision | recall | "
                  "landslides found | false-alarm objects | landslide-free images flagged |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for view, view_label in views:
            for key, label in (("without_filter", "every polygon"), ("with_filter", "**object filter on (default)**")):
                d = metrics[view][key]
                lines.append(
                    f"| {view_label} | {label} | {_with_interval(d, 'f1_landslide_images')} | "
                    f"{_with_interval(d, 'f1')} | {d['precision']:.3f} | {_with_interval(d, 'recall')} | "
                    f"{d['objects_detected']} / {d['objects_detected'] + d['objects_missed']} | "
                    f"{d['false_alarm_objects']} | {d['landslide_free_images_with_detections']} / "
                    f"{d['landslide_free_images']} |")
    lines += _before_after_lines(metrics.get("before_after"))
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
        *([f"- An early checkpoint: {_progress(training, metrics)}, stopped by the training time budget"
           f"{f' (training on {hardware})' if hardware else ''}; `--resume` continues it from its run folder."]
          if str(metrics.get("stopped") or "").startswith("time limit") else []),
        f"- Trained on {data.title}{f' ({data.place})' if data.place else ''} imagery only: expect lower quality on "
        "other landscapes and sensors.",
        "- Slope is an input: Detect needs a DEM covering the image." if "slope" in spec["bands"] else
        f"- No slope band{f' ({data.no_dem})' if data.no_dem else ''}, so terrain is not used.",
        "",
    ]
    return "\n".join(lines)


def _dilated(dilations) -> str:
    """The card's words for a dilated bottleneck (nothing for the method's plain one)."""
    if not dilations or all(d == 1 for d in dilations):
        return ""
    return f", bottleneck convolutions dilated {' and '.join(str(d) for d in dilations)} (a wider receptive field)"
