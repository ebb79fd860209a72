"""Real imagery in other radiometries: every bundled model maps a 12-bit, a 16-bit and a
float copy of a real scene as it maps the 8-bit original.

The scene is built at test time from ../shared/data: four Bijie landslide images (0.8 m
TripleSat) in a georeferenced 2 x 2 mosaic. The copies are what sensors and processing
chains deliver: 12-bit values in a UInt16 file (``gdal_translate -ot UInt16 -scale 0 255
0 4095``), full-range 16-bit, 0-1 float reflectance, and a 16-bit copy with a nodata frame.
"""

from pathlib import Path

import numpy as np
import pytest
from rasters import MOSAIC_GEOTRANSFORM, bijie_mosaic, radiometric_copies, read_raster, write_raster

ROOT = Path(__file__).resolve().parent.parent
BIJIE = ROOT.parent / "shared" / "data" / "bijie"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (BIJIE / "index.csv").exists(), reason="../shared/data not present")]


def prediction_models():
    """Every bundled model and its INT8 variant (not their saliency graphs, interop copies or stages)."""
    from landslide_mapper.core.model.catalog import bundled_models, variant

    return sorted(p for m in bundled_models().values() for p in (m, variant(m, "int8")) if p.is_file())


@pytest.fixture(scope="module")
def radiometries(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    mosaic, original = bijie_mosaic(BIJIE, folder)
    copies = radiometric_copies(original, folder)
    # 0 is nodata there: real pixels are kept off it (1/257 of an 8-bit step)
    framed = np.maximum(np.round(mosaic.astype(np.float64) * 257), 1).astype(np.uint16)
    framed[:, :24] = framed[:, :, -24:] = 0  # a nodata frame, as a reprojected scene has
    copies["16-bit with nodata"] = write_raster(folder / "framed.tif", framed, geotransform=MOSAIC_GEOTRANSFORM,
                                                nodata=0)
    return copies


def detect_mask(image, model, folder):
    import processing

    folder.mkdir()
    result = processing.run("landslidemapper:detect", {
        "INPUT": image, "MODEL_FILE": str(model), "OUTPUT_PROBABILITY": str(folder / "p.tif"),
        "OUTPUT_MASK": str(folder / "m.tif"), "OUTPUT_POLYGONS": str(folder / "l.gpkg")})
    return read_raster(result["OUTPUT_MASK"])[0]


def f1(a, b):
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


@pytest.mark.parametrize("model", prediction_models(), ids=lambda p: p.stem)
def test_every_bundled_model_maps_other_radiometries_like_the_8_bit_original(provider, radiometries, model,
                                                                             tmp_path):
    original = detect_mask(radiometries["8-bit"], model, tmp_path / "8-bit")
    assert (original == 1).sum() > 1000, "the mosaic holds four landslides: the model should mark some"
    for name, path in radiometries.items():
        if name == "8-bit":
            continue
        mask = detect_mask(path, model, tmp_path / name.replace(" ", "_"))
        if name == "16-bit with nodata":
            frame = np.zeros(mask.shape, bool)
            frame[:24] = frame[:, -24:] = True
            assert (mask[frame] == 255).all()  # nodata stays nodata
            inside = ~frame
            # windows next to the frame see mirrored content instead of the frame: compare away from it
            inside[:24 + 64] = inside[:, -(24 + 64):] = False
            assert f1(mask[inside] == 1, original[inside] == 1) >= 0.95, name
        else:
            assert f1(mask == 1, original == 1) >= 0.95, name
