"""The models bundled in ``models/``: one ``<key>.onnx`` each, with its spec inside."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, WordChoice
from .cascade import DECODER_STAGE_SUFFIX, PRESENCE_STAGE_SUFFIX

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"  # the plugin folder's
#: The model Detect offers first, when it is bundled (the method's best: spatial attention).
RECOMMENDED = "spatial_attention_unet"
#: Files beside a model that are not models of their own: its saliency graph, its INT8 variant,
#: and the two stages of each (see core.model.cascade).
COMPANION_SUFFIXES = ("_saliency", "_int8", *(f"{precision}{stage}" for precision in ("", "_int8")
                                               for stage in (PRESENCE_STAGE_SUFFIX, DECODER_STAGE_SUFFIX)))


class Precision(WordChoice):
    """Which file of a model Detect runs. A ``str``: each member is the word Detect's
    parameter and ``--precision`` take, so those words need no translation."""

    #: a model's INT8 variant where it has one (kept only where it scores within 0.01
    #: validation F1 of float32: 1.3-2.4x faster on CPUs), else the model itself
    AUTO = "auto"
    FLOAT32 = "float32"  # the model itself
    INT8 = "int8"  # its quantized variant, or an error

    @classmethod
    def refusal(cls, word: str) -> InputError:
        return InputError(f"Unknown precision '{word}': choose {' or '.join(PRECISIONS)}.")


#: the words Detect's parameter and the command line offer
PRECISIONS = tuple(precision.value for precision in Precision)


def variant(model_path: Path, precision: Precision | str) -> Path:
    """The model file for ``precision`` (a member or its word; int8: its quantized sibling
    ``<name>_int8.onnx``; anything else: the model itself)."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}_int8.onnx") if precision == Precision.INT8 else model_path


#: what a person calls each bundled architecture (the model lists show the id beside it)
READABLE_NAMES = {
    "spatial_attention_unet": "Spatial-attention U-Net",
    "channel_attention_unet": "Channel-attention U-Net",
    "squeeze_excitation_unet": "Squeeze-and-excitation U-Net",
    "unet": "Plain U-Net",
}


def readable_name(key: str) -> str:
    """'Spatial-attention U-Net (spatial_attention_unet)', or the key of an unknown model."""
    return f"{READABLE_NAMES[key]} ({key})" if key in READABLE_NAMES else key


def bundled_models(models_dir: Path = MODELS_DIR) -> dict[str, Path]:
    """Bundled model keys (file stems) to paths, the recommended one first."""
    paths = models_in(models_dir)
    paths.sort(key=lambda p: p.stem != RECOMMENDED)
    return {p.stem: p for p in paths}


def models_in(folder: Path) -> list[Path]:
    """The model files in ``folder`` (not their companions), by name."""
    return sorted(p for p in Path(folder).glob("*.onnx") if not p.stem.endswith(COMPANION_SUFFIXES))


#: how a model of the user's is listed when a bundled one has its name
YOURS = "{} (yours)"


def available_models(user_folder: Path | None, models_dir: Path = MODELS_DIR) -> dict[str, Path]:
    """The bundled models, then those in ``user_folder`` (where 'Train landslide model'
    adds the models it writes), each by its key."""
    models = bundled_models(models_dir)
    for path in models_in(user_folder) if user_folder is not None and Path(user_folder).is_dir() else []:
        models[YOURS.format(path.stem) if path.stem in models else path.stem] = path
    return models


def ensemble_members(models: dict[str, Path]) -> tuple[str, ...]:
    """The files of every bundled model (``models``, as :func:`bundled_models` gives them):
    the members of Detect's ensemble."""
    if len(models) < 2:
        raise ValueError(f"The ensemble needs at least two bundled models; this installation has {len(models)}.")
    return tuple(str(path) for path in models.values())


#: The adapters say how their users give a model of their own.
NO_MODEL = "No bundled model is installed yet"
