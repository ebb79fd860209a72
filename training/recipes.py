"""The training recipes, with their defaults: the one place they are written down.

Both recipes train through the one trainer (:func:`training.campaign.train_campaign`),
which gives them the same run folder, resume, checkpoints, spec, log and curves:

- ``default`` (:class:`DefaultRecipe`): built to converge on a CPU budget: AdamW with a
  warm-up/cosine schedule on the global step, crops drawn afresh every step from whole
  images (:mod:`training.sampler`), a balanced loss, a presence head, validation as Detect
  runs it, the best checkpoint by F1 in one scene of the validation images;
- ``paper`` (:class:`PaperRecipe`): the method's, as it describes it: Adam at lr 5e-5,
  Tversky + focal Tversky loss, fixed 128-px patches iterated in epochs with augmentation,
  32 base filters, the learning rate halved after ``lr_patience`` epochs without a better
  validation loss, early stopping after ``patience``, the best checkpoint by validation loss.

A recipe is a dataclass: its field defaults are the recipe's defaults (the training CLI's
help reads them from here), and a run records every field in its spec's ``training``,
beside ``recipe_name`` and ``recipe`` (the recipe in words, which the model card quotes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .data import DEFAULT_BANDS, PATCH
from .sampler import CropMix


class RecipeError(ValueError):
    """The recipe cannot train what it was given; the message says why and what can."""


@dataclass
class DefaultRecipe:
    name: ClassVar[str] = "default"
    #: share of the images (regions, patches: the dataset's unit) that validate
    val_share: ClassVar[float] = 0.15

    architecture: str = "spatial"
    bands: tuple[str, ...] = DEFAULT_BANDS
    base_filters: int = 16
    presence: bool = True
    bottleneck_dilations: tuple[int, int] = (1, 1)  # (2, 4): a receptive field wider than a 256-px window
    loss: str = "bce_dice"
    presence_weight: float = 0.5
    batch_size: int = 16  # at patch_size 128; the CLI keeps the pixels per batch for other sizes
    patch_size: int = 128  # training crops, and the window Detect runs the model in
    steps: int = 4000  # the schedule's length; a run may stop earlier (max_minutes) and resume
    epoch_steps: int = 200
    warmup_steps: int = 200
    peak_learning_rate: float = 2e-3
    final_learning_rate: float = 2e-5
    weight_decay: float = 1e-4
    jit_compile: bool = True
    seed: int = 42
    max_minutes: float | None = None
    mix: CropMix = field(default_factory=CropMix)
    dataset: dict = field(default_factory=dict)

    def __post_init__(self):
        if "slope" in self.bands:
            # validation runs the model as Detect runs it, and Detect derives slope from a DEM
            # (training.evaluate reads image bands only), while datasets hold slope as a band
            raise RecipeError("the default recipe cannot train a model with a slope band yet: it validates the "
                              "model as Detect runs it, which derives slope from a DEM; train a slope model with "
                              "--recipe paper, or leave slope out of --bands")

    @property
    def description(self) -> str:
        return f"AdamW + warm-up/cosine, {self.loss} loss{', presence head' if self.presence else ''}"


@dataclass
class PaperRecipe:
    name: ClassVar[str] = "paper"
    val_share: ClassVar[float] = 0.3
    # the method's fixed choices
    loss: ClassVar[str] = "paper"  # Tversky + focal Tversky (training.losses.MAP_LOSSES)
    presence: ClassVar[bool] = False
    bottleneck_dilations: ClassVar[tuple[int, int]] = (1, 1)
    patch_size: ClassVar[int] = PATCH

    architecture: str = "spatial"
    bands: tuple[str, ...] = DEFAULT_BANDS
    base_filters: int = 32
    batch_size: int = 16
    epochs: int = 150
    learning_rate: float = 5e-5
    patience: int = 30  # epochs without a better validation loss before stopping
    lr_patience: int = 10  # ... before the learning rate is multiplied by lr_factor
    lr_factor: float = 0.5
    min_learning_rate: float = 1e-7
    negative_share: float = 0.2  # share of the patches without landslide pixels (the method keeps none)
    jit_compile: bool = True
    seed: int = 42
    max_minutes: float | None = None
    dataset: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return "the method's: Adam, learning rate reduced on plateaus, Tversky + focal Tversky loss, fixed patches"


RECIPES = {recipe.name: recipe for recipe in (DefaultRecipe, PaperRecipe)}


def recipe_of(training: dict) -> str:
    """The recipe a spec's ``training`` records; runs from before recipes were named are told
    apart by what they recorded: the default recipe its description, the paper's none."""
    return training.get("recipe_name") or (DefaultRecipe.name if "recipe" in training else PaperRecipe.name)
