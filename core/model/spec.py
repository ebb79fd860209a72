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
      "training": {...}, "metrics": {...}  # optional, free-form provenance
    }
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

METADATA_KEY = "landslide_mapper"
SPEC_VERSION = 1

#: Bands read straight from the image, by the band number the user picks.
IMAGE_BANDS = ("red", "green", "blue", "nir")
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


class SpecError(ValueError):
    """A model spec is missing or invalid; the message names every problem found."""


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

    @property
    def image_bands(self) -> tuple[str, ...]:
        """Image bands the network needs, directly or to derive another band."""
        needed = set(self.bands) & set(IMAGE_BANDS)
        if "brightness" in self.bands:
            needed |= {"red", "green", "blue"}
        return tuple(b for b in IMAGE_BANDS if b in needed)

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

        if problems:
            raise SpecError(f"{source} has an invalid Landslide Mapper spec: " + "; ".join(problems) + ".")

        known = set(REQUIRED_FIELDS) | {"layout", "version"}
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
        )


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

