"""Shared fixtures: the plugin importable as ``landslide_mapper``, its provider
registered in real QGIS Processing, a generated scene and small real ONNX models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "build" / "plugins"
sys.path[:0] = [str(PLUGINS), str(ROOT / "tests"), str(ROOT / "tools")]
link = PLUGINS / "landslide_mapper"
if not link.exists():
    PLUGINS.mkdir(parents=True, exist_ok=True)
    link.symlink_to(ROOT, target_is_directory=True)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from model_factory import build_model, default_spec  # noqa: E402


@pytest.fixture(scope="session")
def provider(qgis_processing):
    from qgis.core import QgsApplication

    from landslide_mapper.algorithms.provider import LandslideMapperProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("landslidemapper")
    if existing is not None:
        return existing
    instance = LandslideMapperProvider()
    assert registry.addProvider(instance)
    return instance


@pytest.fixture(scope="session")
def scene(tmp_path_factory):
    """A 512 x 512 px, 1 m, UTM scene: image.tif (RGB), dem.tif (2 m), truth.tif."""
    from make_scene import write_scene

    return write_scene(tmp_path_factory.mktemp("scene"), size=512)


@pytest.fixture(scope="session")
def bright_model(tmp_path_factory):
    """A real ONNX model that finds the scene's bright bare-soil patches (R,G,B,brightness)."""
    return build_model(tmp_path_factory.mktemp("models") / "bright.onnx", default_spec(), brightness_band=3)


@pytest.fixture(scope="session")
def slope_model(tmp_path_factory):
    spec = default_spec(
        bands=["red", "green", "blue", "brightness", "slope"],
        normalization={"mean": [100.0] * 4 + [20.0], "std": [50.0] * 4 + [10.0]},
    )
    return build_model(tmp_path_factory.mktemp("models") / "slope.onnx", spec, seed=3)
