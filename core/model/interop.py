"""Segmentation models described the Deepness / GeoDeep way, run as Landslide Mapper models.

Those QGIS/CLI tools describe an ONNX model with loose metadata keys: ``model_type``
(Segmentor / segmentation), ``class_names`` ({id: name}), ``resolution`` (cm per pixel),
``tiles_size`` (GeoDeep: ``tile_size``), ``tiles_overlap`` (percent), ``seg_thresh``, and
``standardization_mean`` / ``standardization_std`` applied after scaling 0-255 input to
0-1. Their input is NCHW red, green, blue(, a fourth band); their output one channel per
class. This module turns such metadata into a :class:`ModelSpec`, picking the landslide
class by name (or the one the user names), so Detect runs the model with no other change.
"""

from __future__ import annotations

import ast
import json
from typing import Any, Mapping

from ..model.spec import IMAGE_BANDS, ModelSpec, SpecError

SEGMENTATION_TYPES = ("segmentor", "segmentation")
DEFAULT_SIZE_MULTIPLE = 32  # what such networks (U-Net, DeepLab, SegFormer) usually need


def has_foreign_metadata(metadata: Mapping[str, str]) -> bool:
    return "model_type" in metadata


def _value(text: str | None) -> Any:
    """Metadata values are JSON, sometimes Python literals ({0: 'background'})."""
    if text is None:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return text


def class_names(metadata: Mapping[str, str]) -> dict[int, str]:
    names = _value(metadata.get("class_names"))
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in names.items()}
    return {}


def pick_class(names: dict[int, str], wanted: str | None, source: str) -> int:
    """The output channel of the landslide class: the one named ``wanted`` (name or
    index), else the one whose name says landslide."""
    listing = ", ".join(f"{k}: {v}" for k, v in sorted(names.items())) or "none named"
    if wanted not in (None, ""):
        for k, v in names.items():
            if v.lower() == str(wanted).lower() or str(k) == str(wanted):
                return k
        raise SpecError(f"{source} has no class '{wanted}'; its classes are {listing}.")
    matches = [k for k, v in names.items() if "landslide" in v.lower()]
    if len(matches) == 1:
        return matches[0]
    if len(names) == 1:
        return next(iter(names))
    raise SpecError(f"{source} does not say which class is landslides ({listing}): give the landslide class's "
                    "name or number with the model.")


def spec_from_foreign_metadata(metadata: Mapping[str, str], input_shape, source: str,
                               wanted_class: str | None = None) -> ModelSpec:
    model_type = str(_value(metadata.get("model_type")) or "").lower()
    if model_type not in SEGMENTATION_TYPES:
        raise SpecError(f"{source} is a '{metadata.get('model_type')}' model; Detect runs segmentation models only.")
    channels = input_shape[1] if len(input_shape) == 4 else None
    if not isinstance(channels, int) or not 1 <= channels <= len(IMAGE_BANDS):
        raise SpecError(f"{source}: cannot tell its input bands from the input shape {list(input_shape)} "
                        "(expected N, 3 or 4 bands, H, W).")
    bands = list(IMAGE_BANDS[:channels])
    mean = _value(metadata.get("standardization_mean")) or [0.0] * channels
    std = _value(metadata.get("standardization_std")) or [1.0] * channels
    if len(mean) != channels or len(std) != channels:
        raise SpecError(f"{source}: standardization_mean/std must have one value per input band ({channels}).")
    names = class_names(metadata)
    index = pick_class(names, wanted_class, source)
    size = _value(metadata.get("tiles_size") or metadata.get("tile_size"))
    static = input_shape[2] if isinstance(input_shape[2], int) else None
    patch = int(size or static or 512)
    resolution_cm = _value(metadata.get("resolution"))
    threshold = float(_value(metadata.get("seg_thresh")) or 0.5)
    multiple = DEFAULT_SIZE_MULTIPLE if patch % DEFAULT_SIZE_MULTIPLE == 0 else 16 if patch % 16 == 0 else patch
    return ModelSpec.from_dict({
        "spec_version": 1, "name": f"{source} ({names.get(index, f'class {index}')})",
        "architecture": "foreign segmentation model", "bands": bands,
        # their 0-1 scaling and standardization, as one (x - mean) / std on 0-255 values
        "normalization": {"mean": [255.0 * float(m) for m in mean], "std": [255.0 * float(s) for s in std]},
        "patch_size": patch, "size_multiple": multiple, "threshold": min(max(threshold, 1e-6), 1 - 1e-6),
        "output": "landslide_probability", "layout": "NCHW", "class_index": index,
        "class_names": {str(k): v for k, v in names.items()},
        **({"resolution_m": float(resolution_cm) / 100.0} if resolution_cm else {}),
        "metadata_convention": "deepness/geodeep",
    }, source)
