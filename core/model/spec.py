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

Each key is declared once, in :data:`SPEC_FIELDS`: which :class:`ModelSpec` attributes it
fills, how its value is checked and typed when read, and how it is written back. Keys the
table does not know are kept in ``extra`` and written back as they came.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

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
    """A model's spec, typed; its JSON keys, and how each is read and written, are in :data:`SPEC_FIELDS`."""

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
        data: dict[str, Any] = dict(self.extra)  # unknown keys first, as they were read
        for spec_field in SPEC_FIELDS:
            if spec_field.required or spec_field.is_set_on(self):
                data[spec_field.key] = spec_field.json_value(self)
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
        """The spec ``data`` describes; a SpecError names every problem at once, field by field."""
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: the spec must be a JSON object.")
        problems: list[str] = []
        missing = [key for key in REQUIRED_FIELDS if key not in data]
        if missing:
            problems.append("missing field(s): " + ", ".join(missing))
        attributes: dict[str, Any] = {}
        for spec_field in SPEC_FIELDS:
            if spec_field.is_given_in(data):
                try:
                    attributes.update(spec_field.attributes_from(data, source))
                except _Problem as problem:
                    problems.append(str(problem))
        if problems:
            raise SpecError(f"{source} has an invalid Landslide Mapper spec: " + "; ".join(problems) + ".")
        known = {spec_field.key for spec_field in SPEC_FIELDS}
        return cls(**attributes, extra={k: v for k, v in data.items() if k not in known})


class _Problem(ValueError):
    """One thing wrong with one field's value; the spec's SpecError lists them all."""


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class SpecField:
    """One key of the spec's JSON and the :class:`ModelSpec` attributes it fills.

    A required key must be present (a null value is read like any other); an optional one
    that is absent or null leaves its attributes at their defaults, and is written back only
    when set.
    """

    key: str
    #: (value, the whole spec, its source) -> the typed value (a tuple when it fills several
    #: attributes); raises _Problem, saying what is wrong, for a wrong value
    read: Callable[[Any, Mapping[str, Any], str], Any]
    write: Callable[..., Any] = _as_is  # the attributes' values -> the JSON value
    required: bool = False
    fills: tuple[str, ...] = ()  # the attributes, when not the one named ``key``

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.fills or (self.key,)

    def is_given_in(self, data: Mapping[str, Any]) -> bool:
        return self.key in data if self.required else data.get(self.key) is not None

    def attributes_from(self, data: Mapping[str, Any], source: str) -> dict[str, Any]:
        value = self.read(data[self.key], data, source)
        return dict(zip(self.attributes, value if self.fills else (value,)))

    def is_set_on(self, spec: ModelSpec) -> bool:
        """Whether the spec's value says something, i.e. is not None, empty or the attribute's default."""
        name = self.attributes[0]
        default = next(f.default for f in fields(spec) if f.name == name)
        return getattr(spec, name) not in (None, "", default)

    def json_value(self, spec: ModelSpec) -> Any:
        return self.write(*(getattr(spec, name) for name in self.attributes))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_number(v) for v in value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _checked(is_valid: Callable[[Any], Any], problem: str, convert: Callable[[Any], Any] = _as_is) -> Callable:
    """A reader of values that pass ``is_valid``, converted; any other value is ``problem``."""
    def read(value, spec, source):
        if not is_valid(value):
            raise _Problem(problem)
        return convert(value)
    return read


def _read_text(value, spec, source) -> str:
    return str(value)


def _read_spec_version(value, spec, source) -> int:
    if value != SPEC_VERSION:
        raise _Problem(f"spec_version {value!r} is not supported (this plugin reads {SPEC_VERSION})")
    return SPEC_VERSION


def _read_bands(value, spec, source) -> tuple[str, ...]:
    if not _is_str_list(value) or not value:
        raise _Problem("'bands' must be a non-empty list of band names")
    unknown = [b for b in value if b not in BAND_VOCABULARY]
    if unknown:
        raise _Problem(f"unknown band name(s) {unknown}; known: {', '.join(BAND_VOCABULARY)}")
    return tuple(value)


def _read_normalization(value, spec, source) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not isinstance(value, Mapping) or "mean" not in value or "std" not in value:
        raise _Problem("'normalization' must be an object with 'mean' and 'std' lists")
    mean, std = value["mean"], value["std"]
    if not (_is_number_list(mean) and _is_number_list(std)):
        raise _Problem("'normalization.mean' and '.std' must be lists of numbers")
    n_bands = len(spec["bands"]) if isinstance(spec.get("bands"), list) else None  # a wrong list still counts
    if n_bands is not None and not (len(mean) == len(std) == n_bands):
        raise _Problem(f"'normalization' needs one mean and one std per band ({n_bands}), "
                       f"got {len(mean)} and {len(std)}")
    if any(s == 0 for s in std):
        raise _Problem("'normalization.std' must not contain 0")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _write_normalization(mean: tuple[float, ...], std: tuple[float, ...]) -> dict[str, list[float]]:
    return {"mean": list(mean), "std": list(std)}


def _read_size_multiple(value, spec, source) -> int:
    if not _is_positive_int(value):
        raise _Problem("'size_multiple' must be a positive integer")
    if _is_int(spec.get("patch_size")) and spec["patch_size"] % value:
        raise _Problem("'patch_size' must be a multiple of 'size_multiple'")
    return int(value)


def _read_input_percentiles(value, spec, source) -> InputPercentiles:
    if not (isinstance(value, Mapping) and _is_number_list(value.get("low")) and _is_number_list(value.get("high"))
            and len(value["low"]) == len(value["high"]) and all(lo < hi for lo, hi in zip(value["low"], value["high"]))):
        raise _Problem("'input_percentiles' must be an object with 'low' and 'high' lists of numbers, "
                       "one low < high pair per image band")
    bands = spec["bands"] if isinstance(spec.get("bands"), list) else []
    names = value.get("bands", image_bands_of(bands))  # older specs name no bands: the model's image bands
    return InputPercentiles(tuple(names), tuple(float(v) for v in value["low"]), tuple(float(v) for v in value["high"]),
                            tuple(float(v) for v in value.get("percentiles", (2.0, 98.0))))


def _read_object_filter(value, spec, source) -> ObjectFilter:
    try:
        return ObjectFilter.from_dict(value, source)
    except SpecError as err:  # its message starts with the source, which the spec's SpecError names already
        raise _Problem(str(err).removeprefix(f"{source}: ")) from None


#: Every key of the spec, in the order :meth:`ModelSpec.to_dict` writes them and
#: :meth:`ModelSpec.from_dict` reports their problems.
SPEC_FIELDS = (
    SpecField("spec_version", _read_spec_version, required=True),
    SpecField("name", _read_text, required=True),
    SpecField("architecture", _read_text, required=True),
    SpecField("bands", _read_bands, write=list, required=True),
    SpecField("normalization", _read_normalization, write=_write_normalization, required=True, fills=("mean", "std")),
    SpecField("patch_size", _checked(_is_positive_int, "'patch_size' must be a positive integer", int),
              required=True),
    SpecField("size_multiple", _read_size_multiple, required=True),
    SpecField("threshold", _checked(lambda v: _is_number(v) and 0 < v < 1,
                                    "'threshold' must be a number between 0 and 1", float), required=True),
    SpecField("output", _checked(lambda v: v in OUTPUT_MEANINGS,
                                 f"'output' must be one of {', '.join(OUTPUT_MEANINGS)}", str), required=True),
    SpecField("layout", _checked(lambda v: v in LAYOUTS, f"'layout' must be one of {', '.join(LAYOUTS)}")),
    SpecField("version", _read_text),
    SpecField("resolution_m", _checked(lambda v: _is_number(v) and v > 0,
                                       "'resolution_m' must be a positive number (metres per pixel)", float)),
    SpecField("input_percentiles", _read_input_percentiles, write=InputPercentiles.to_dict),
    SpecField("saliency_model", _checked(lambda v: isinstance(v, str) and v,
                                         "'saliency_model' must be the file name of the saliency graph")),
    SpecField("class_index", _checked(lambda v: _is_int(v) and v >= 0, "'class_index' must be a non-negative integer")),
    SpecField("object_filter", _read_object_filter, write=ObjectFilter.to_dict),
)

REQUIRED_FIELDS = tuple(spec_field.key for spec_field in SPEC_FIELDS if spec_field.required)


def normalize(stack, spec: ModelSpec):
    """Normalize a (bands, ...) float32 stack in place, as the spec says; returns it.

    One implementation for training and inference: (x - mean) / std per band.
    """
    for i, (mean, std) in enumerate(zip(spec.mean, spec.std)):
        stack[i] -= mean
        stack[i] /= std
    return stack
