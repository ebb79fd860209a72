"""Shared fixtures: the plugin importable as ``landslide_mapper``, its provider
registered in real QGIS Processing, a generated scene and small real ONNX models."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# one import root, as every entry point: the plugin as the package QGIS loads (plugin_root.py)
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tools")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from model_factory import build_model, default_spec  # noqa: E402


@pytest.fixture(scope="session")
def provider(qgis_processing):
    from landslide_mapper.algorithms.provider import LandslideMapperProvider
    from qgis.core import QgsApplication

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


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory):
    """A tiny spatial-attention U-Net really trained (the paper recipe, 2 epochs, 4 base
    filters) and exported with its saliency graph: the path of its prediction ONNX."""
    pytest.importorskip("tensorflow")
    import numpy as np
    from landslide_mapper.training.campaign import train_campaign
    from landslide_mapper.training.data import Sample, make_patchset, patch_samples
    from landslide_mapper.training.export import export_run
    from landslide_mapper.training.recipes import PaperRecipe

    rng = np.random.default_rng(7)
    samples = []
    for i in range(8):
        red = rng.uniform(40, 90, (128, 128)).astype(np.float32)
        mask = np.zeros((128, 128), np.uint8)
        top, left = rng.integers(10, 80, 2)
        mask[top : top + 30, left : left + 40] = 1
        red[mask == 1] = 210
        samples.append(Sample(f"s{i}", {"red": red, "green": red * 0.9, "blue": red * 0.8}, mask))
    patches = patch_samples(make_patchset(samples, 0.0))
    folder = tmp_path_factory.mktemp("exported")
    config = PaperRecipe(architecture="spatial", epochs=2, batch_size=4, base_filters=4, learning_rate=1e-3,
                         jit_compile=False)
    train_campaign(patches, patches, folder / "run", config, log=lambda _line: None)
    return str(export_run(folder / "run", folder / "models" / "tiny.onnx", check_patches=2)[0])


_session = {"exit_status": 0}


def pytest_sessionfinish(session, exitstatus):
    _session["exit_status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without running C++ destructors: QGIS and TensorFlow in one process can
    crash there (a segfault after every test has passed), which would turn a green
    run red. The report is already written; the exit status is pytest's own."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_session["exit_status"])
