"""Errors shared across the engine's modules (here, below every package, so that any layer
may raise them; see ``CORE_LAYERS`` in tests/test_layout.py), and the word choices whose
unknown words they refuse."""

from enum import Enum


class Cancelled(Exception):
    """The user cancelled the run; outputs written so far have been removed."""


class NoValidPixels(ValueError):
    """Every pixel of the input is nodata."""


class UserError(ValueError):
    """Something the user gave cannot be used: ``str()`` says what, in the user's terms.

    ``subject`` names the parameter or input it is about in the engine's terms (e.g.
    ``"crs"``, ``"threshold"``, ``"reference"``; None when it is not one input), so that an
    adapter can name it as its users see it, or add where they fix it."""

    def __init__(self, message: str, subject: str | None = None):
        super().__init__(message)
        self.subject = subject


class SpecError(UserError):
    """A model spec is missing or invalid; the message names every problem found."""


class InputError(UserError):
    """The image, its bands or the DEM do not fit the model, or an option is out of range."""


class WordChoice(str, Enum):
    """A mode chosen by a word: each member is the word Processing's parameter and the
    command line take, so those words need no translation. Subclasses say how an unknown
    word is refused (:meth:`refusal`)."""

    def __str__(self) -> str:  # the word in messages, not "Precision.AUTO"
        return self.value

    @classmethod
    def of(cls, word: str):
        """The member ``word`` names; an unknown word is refused in the user's terms."""
        try:
            return cls(word)
        except ValueError:
            raise cls.refusal(word) from None

    @classmethod
    def refusal(cls, word: str) -> Exception:
        raise NotImplementedError


#: what can be wrong with an evaluation's inputs (:attr:`EvaluationError.problem`)
NO_CRS, UNREADABLE, NO_SUCH_LAYER = "no_crs", "unreadable", "no_such_layer"
NO_OVERLAP, NOTHING_SCORED, EXTENT_OUTSIDE, PIXEL_SIZE_NEEDED = (
    "no_overlap", "nothing_scored", "extent_outside", "pixel_size_needed")
NOT_A_MASK, SAME_MAP = "not_a_mask", "same_map"


class EvaluationError(UserError):
    """Inputs that cannot be scored, as facts an adapter words in its own terms:
    ``problem`` (one of the constants above), ``subject`` (the input concerned:
    "prediction", "reference", "points", "area", "probability", "extent" or "pixel_size";
    None when it is not one input), ``source`` (its file, when that helps) and ``layer``
    (a layer of it). ``str()`` says it plainly, without any program's wording."""

    def __init__(self, problem: str, subject: str | None = None, source: str | None = None, layer: str | None = None,
                 bands: int | None = None):
        # the facts first: the plain message is made of them
        self.problem, self.subject, self.source, self.layer, self.bands = problem, subject, source, layer, bands
        super().__init__(self._plain(), subject)

    def _plain(self) -> str:
        what = {"prediction": "prediction map", "reference": "reference map", "points": "point layer",
                "area": "area layer", "probability": "probability raster"}.get(self.subject, "layer")
        named = (f"The {what}" + (f" '{self.source}'" if self.source else "")
                 + (f" (layer '{self.layer}')" if self.layer and self.problem != NO_SUCH_LAYER else ""))
        return {
            NO_CRS: f"{named} has no coordinate reference system: assign one first.",
            UNREADABLE: f"{named} is neither a raster nor a vector layer GDAL can read.",
            NO_SUCH_LAYER: f"{named} has no layer '{self.layer}'.",
            NO_OVERLAP: f"The {what} does not overlap the area being scored: the maps do not overlap.",
            NOTHING_SCORED: "No pixel could be scored: the maps do not overlap (or every pixel is nodata or outside "
                            "the area/extent).",
            EXTENT_OUTSIDE: "The extent does not overlap the maps.",
            PIXEL_SIZE_NEEDED: "Both maps are polygon layers: a pixel size (in the prediction layer's CRS units) is "
                               "needed for the grid they are scored on.",
            NOT_A_MASK: f"{named} has {self.bands} bands: a landslide map is a mask with one band (1 landslide, 0 "
                        "not, e.g. Detect's landslide mask) or a polygon layer, not an image.",
            SAME_MAP: "The prediction and the reference are the same map: score a map against an independent "
                      "inventory.",
        }[self.problem]
