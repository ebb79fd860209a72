"""The self-describing model spec carried in an ONNX file's metadata.

A Landslide Mapper model is an ONNX file whose ``metadata_props`` key
``landslide_mapper`` holds a JSON object. The engine builds the network's input from
that object alone, so a user's own model with a valid spec runs with no code change.

Example::

    {
      "spec_version": 1,
      "name": "spatial-attention-unet-bijie",
      "architecture": "spatial_attention_unet",
      "bands": ["red", "green", "blue", "brightness"],
      "normalization": {"mean": [0, 0, 0, 0], "std": [255, 255, 255, 255]},
      "patch_size": 128,
      "size_multiple": 16,
      "threshold": 0.5,
      "output": "landslide_probability",
      "layout": "NHWC",                    # optional: otherwise read from the graph
      "version": "1.0.0",                  # optional
      "resolution_m": 0.8,                 # optional: the ground resolution it learned at
      "input_percentiles": {"bands": [...], "low": [...], "high": [...], "percentiles": [2, 98]},
                                           # optional: its training imagery's range per image band
      "saliency_model": "x_saliency.onnx", # optional: its saliency graph, beside it
      "class_index": 0,                    # optional: the landslide channel of a multi-class output
      "object_filter": {...},              # optional: its false-alarm filter (core.model.object_filter)
      "training": {...}, "metrics": {...}  # optional, free-form provenance
    }

The optional fields the engine acts on are typed fields of :class:`ModelSpec`, checked
when a spec is read (a wrong type names the field); everything else is kept in ``extra``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import SpecError
from .object_filter import ObjectFilter

METADATA_KEY = "landslide_mapper"
SPEC_VERSION = 1

#: Bands read straight from the image, by the band number the user picks.
IMAGE_BANDS = ("red", "green", "blue", "nir")
#: The colour bands, from which the brightness index is derived.
RGB = IMAGE_BANDS[:3]
#: Bands computed by :mod:`core.imagery.bands` from image bands or from a DEM.
DERIVED_BANDS = ("brightness", "slope")
BAND_VOCABULARY = IMAGE_BANDS + DERIVED_BANDS

OUTPUT_MEANINGS = ("landslide_probability", "saliency")
LAYOUTS = ("NHWC", "NCHW")

REQUIRED_FIELDS = (
    "spec_version",
    "name",
    "architecture",
    "bands",
    "normalization",
    "patch_size",
    "size_multiple",
    "threshold",
    "output",
)


def image_bands_of(bands) -> tuple[str, ...]:
    """The image bands a model reading ``bands`` needs, directly or to derive another band."""
    needed = set(bands) & set(IMAGE_BANDS)
    if "brightness" in bands:
        needed |= set(RGB)
    return tuple(b for b in IMAGE_BANDS if b in needed)


@dataclass(frozen=True)
class InputPercentiles:
    """The training imagery's low and high percentiles per image band: what input
    scaling maps imagery of unknown scale onto (see :mod:`core.imagery.scaling`)."""

    bands: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    percentiles: tuple[float, float] = (2.0, 98.0)

    def to_dict(self) -> dict[str, Any]:
        return {"bands": list(self.bands), "low": list(self.low), "high": list(self.high),
                "percentiles": list(self.percentiles)}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    architecture: str
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    patch_size: int
    size_multiple: int
    threshold: float
    output: str = "landslide_probability"
    layout: str | None = None
    version: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    spec_version: int = SPEC_VERSION
    resolution_m: float | None = None  # ground resolution (m per pixel) the model learned at
    input_percentiles: InputPercentiles | None = None
    saliency_model: str | None = None  # file name of its saliency graph, beside the model
    class_index: int = 0  # the landslide channel when the graph outputs one channel per class
    object_filter: ObjectFilter | None = None

    @property
    def image_bands(self) -> tuple[str, ...]:
        """Image bands the network needs, directly or to derive another band."""
        return image_bands_of(self.bands)

    @property
    def needs_dem(self) -> bool:
        return "slope" in self.bands

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            spec_version=self.spec_version,
            name=self.name,
            architecture=self.architecture,
            bands=list(self.bands),
            normalization={"mean": list(self.mean), "std": list(self.std)},
            patch_size=self.patch_size,
            size_multiple=self.size_multiple,
            threshold=self.threshold,
            output=self.output,
        )
        if self.layout:
            data["layout"] = self.layout
        if self.version:
            data["version"] = self.version
        if self.resolution_m is not None:
            data["resolution_m"] = self.resolution_m
        if self.input_percentiles is not None:
            data["input_percentiles"] = self.input_percentiles.to_dict()
        if self.saliency_model:
            data["saliency_model"] = self.saliency_model
        if self.class_index:
            data["class_index"] = self.class_index
        if self.object_filter is not None:
            data["object_filter"] = self.object_filter.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None, source: str = "model") -> "ModelSpec":
        if text is None:
            raise SpecError(
                f"{source} has no Landslide Mapper spec: its ONNX metadata lacks the "
                f"'{METADATA_KEY}' key. Export the model with 'python -m training export' "
                f"or add a JSON spec with the fields: {', '.join(REQUIRED_FIELDS)}."
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"{source}: the '{METADATA_KEY}' metadata is not valid JSON ({err}).") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model") -> "ModelSpec":
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: the spec must be a JSON object.")
        problems: list[str] = []
        missing = [key for key in REQUIRED_FIELDS if key not in data]
        if missing:
            problems.append("missing field(s): " + ", ".join(missing))

        bands = data.get("bands")
        if "bands" in data:
            if not _is_str_list(bands) or not bands:
                problems.append("'bands' must be a non-empty list of band names")
            else:
                unknown = [b for b in bands if b not in BAND_VOCABULARY]
                if unknown:
                    problems.append(
                        f"unknown band name(s) {unknown}; known: {', '.join(BAND_VOCABULARY)}"
                    )
        n_bands = len(bands) if isinstance(bands, list) else None

        mean = std = None
        norm = data.get("normalization")
        if "normalization" in data:
            if not isinstance(norm, Mapping) or "mean" not in norm or "std" not in norm:
                problems.append("'normalization' must be an object with 'mean' and 'std' lists")
            else:
                mean, std = norm["mean"], norm["std"]
                if not (_is_number_list(mean) and _is_number_list(std)):
                    problems.append("'normalization.mean' and '.std' must be lists of numbers")
                elif n_bands is not None and not (len(mean) == len(std) == n_bands):
                    problems.append(
                        f"'normalization' needs one mean and one std per band ({n_bands}), "
                        f"got {len(mean)} and {len(std)}"
                    )
                elif any(s == 0 for s in std):
                    problems.append("'normalization.std' must not contain 0")

        for key in ("patch_size", "size_multiple"):
            if key in data and not (_is_int(data[key]) and data[key] > 0):
                problems.append(f"'{key}' must be a positive integer")
        if (
            _is_int(data.get("patch_size"))
            and _is_int(data.get("size_multiple"))
            and data["size_multiple"] > 0
            and data["patch_size"] % data["size_multiple"]
        ):
            problems.append("'patch_size' must be a multiple of 'size_multiple'")
        if "threshold" in data and not (_is_number(data["threshold"]) and 0 < data["threshold"] < 1):
            problems.append("'threshold' must be a number between 0 and 1")
        if "output" in data and data["output"] not in OUTPUT_MEANINGS:
            problems.append(f"'output' must be one of {', '.join(OUTPUT_MEANINGS)}")
        if data.get("layout") not in (None, *LAYOUTS):
            problems.append(f"'layout' must be one of {', '.join(LAYOUTS)}")
        if "spec_version" in data and data["spec_version"] != SPEC_VERSION:
            problems.append(
                f"spec_version {data['spec_version']!r} is not supported (this plugin reads {SPEC_VERSION})"
            )

        optional = _optional_fields(data, bands if isinstance(bands, list) else [], problems, source)

        if problems:
            raise SpecError(f"{source} has an invalid Landslide Mapper spec: " + "; ".join(problems) + ".")

        known = set(REQUIRED_FIELDS) | {"layout", "version"} | set(OPTIONAL_FIELDS)
        return cls(
            name=str(data["name"]),
            architecture=str(data["architecture"]),
            bands=tuple(bands),
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            patch_size=int(data["patch_size"]),
            size_multiple=int(data["size_multiple"]),
            threshold=float(data["threshold"]),
            output=str(data["output"]),
            layout=data.get("layout"),
            version=str(data.get("version", "")),
            extra={k: v for k, v in data.items() if k not in known},
            **optional,
        )


#: The optional spec fields the engine acts on (typed fields of :class:`ModelSpec`).
OPTIONAL_FIELDS = ("resolution_m", "input_percentiles", "saliency_model", "class_index", "object_filter")


def _optional_fields(data: Mapping[str, Any], bands: list, problems: list[str], source: str) -> dict[str, Any]:
    """The optional fields present in ``data``, typed; each wrong one adds a problem naming it."""
    found: dict[str, Any] = {}
    if data.get("resolution_m") is not None:
        if _is_number(data["resolution_m"]) and data["resolution_m"] > 0:
            found["resolution_m"] = float(data["resolution_m"])
        else:
            problems.append("'resolution_m' must be a positive number (metres per pixel)")
    if data.get("input_percentiles") is not None:
        value = data["input_percentiles"]
        if (isinstance(value, Mapping) and _is_number_list(value.get("low")) and _is_number_list(value.get("high"))
                and len(value["low"]) == len(value["high"]) and all(lo < hi for lo, hi in zip(value["low"], value["high"]))):
            names = value.get("bands", image_bands_of(bands))
            found["input_percentiles"] = InputPercentiles(
                tuple(names), tuple(float(v) for v in value["low"]), tuple(float(v) for v in value["high"]),
                tuple(float(v) for v in value.get("percentiles", (2.0, 98.0))))
        else:
            problems.append("'input_percentiles' must be an object with 'low' and 'high' lists of numbers, "
                            "one low < high pair per image band")
    if data.get("saliency_model") is not None:
        if isinstance(data["saliency_model"], str) and data["saliency_model"]:
            found["saliency_model"] = data["saliency_model"]
        else:
            problems.append("'saliency_model' must be the file name of the saliency graph")
    if data.get("class_index") is not None:
        if _is_int(data["class_index"]) and data["class_index"] >= 0:
            found["class_index"] = data["class_index"]
        else:
            problems.append("'class_index' must be a non-negative integer")
    if data.get("object_filter") is not None:
        try:
            found["object_filter"] = ObjectFilter.from_dict(data["object_filter"], source)
        except SpecError as err:
            problems.append(str(err).removeprefix(f"{source}: "))
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_number(v) for v in value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def normalize(stack, spec: ModelSpec):
    """Normalize a (bands, ...) float32 stack in place, as the spec says; returns it.

    One implementation for training and inference: (x - mean) / std per band.
    """
    for i, (mean, std) in enumerate(zip(spec.mean, spec.std)):
        stack[i] -= mean
        stack[i] /= std
    return stack

