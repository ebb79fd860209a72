"""Mask agreement (F1) of a model's Detect run on an 8-bit real scene and on its 12-bit,
16-bit and float copies, with the input scaling ``auto`` chooses now and with the
per-band percentile stretch it used before (kept here only to measure the change).

    .venv/bin/python tools/radiometry_agreement.py [--model models/x.onnx]
"""

from __future__ import annotations

import argparse
import runpy
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root
sys.path.insert(0, str(ROOT / "tests"))

from landslide_mapper.core.detect.pipeline import DetectOutputs, detect  # noqa: E402
from landslide_mapper.core.detect.request import DetectRequest  # noqa: E402
from landslide_mapper.core.engine.streaming import WindowSettings  # noqa: E402
from landslide_mapper.core.imagery import scaling  # noqa: E402
from landslide_mapper.core.imagery.inputs import ModelInput  # noqa: E402
from landslide_mapper.core.io.readers import GdalReader  # noqa: E402
from landslide_mapper.core.model.catalog import bundled_models  # noqa: E402
from landslide_mapper.core.model.onnx_model import OnnxModel  # noqa: E402
from rasters import bijie_mosaic, radiometric_copies, read_raster  # noqa: E402

BIJIE = ROOT.parent / "shared" / "data" / "bijie"


def percentile_stretch(reader, bands, spec):
    """The former ``auto`` for every non-8-bit image."""
    sample = scaling.sample_pixels(reader, bands)
    low, high = np.percentile(sample, scaling.PERCENTILES, axis=1)
    target_low, target_high = scaling.training_range(spec)
    return scaling.BandScaling(tuple(low), tuple(high), target_low, target_high)


def mask_of(path, model, folder: Path, rule) -> np.ndarray:
    reader = GdalReader(path)
    bands = {"red": 1, "green": 2, "blue": 3}
    inputs = ModelInput(model.spec, reader, bands, scaling=rule(reader, [bands[b] for b in model.spec.image_bands],
                                                                 model.spec))
    folder.mkdir()
    out = DetectOutputs(str(folder / "p.tif"), str(folder / "m.tif"))
    detect(DetectRequest((str(model.path),), settings=WindowSettings(128, 32, 8), min_area_m2=0.0), inputs, model, out)
    return read_raster(out.mask)[0] == 1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(next(iter(bundled_models().values()))))
    args = parser.parse_args(argv)
    model = OnnxModel(args.model)
    rules = {"before (percentile stretch)": percentile_stretch,
             "now (auto)": lambda r, b, s: scaling.choose_scaling("auto", r, b, s)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        copies = radiometric_copies(bijie_mosaic(BIJIE, folder)[1], folder)
        original = mask_of(copies["8-bit"], model, folder / "o", rules["now (auto)"])
        print(f"# {Path(args.model).name}: 8-bit run marks {int(original.sum())} px of {original.size}")
        print("| copy | " + " | ".join(rules) + " |")
        print("|---|" + "---|" * len(rules))
        for name, path in copies.items():
            if name == "8-bit":
                continue
            scores = []
            for k, rule in enumerate(rules.values()):
                mask = mask_of(path, model, folder / f"{name}-{k}", rule)
                scores.append(f"F1 {2 * (mask & original).sum() / max(mask.sum() + original.sum(), 1):.3f} "
                              f"({int(mask.sum())} px)")
            print(f"| {name} | " + " | ".join(scores) + " |")


if __name__ == "__main__":
    main()
