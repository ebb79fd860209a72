"""The Detect dialog a mapper opens from the Processing toolbox, in real QGIS widgets."""

from pathlib import Path

from landslide_mapper.core.catalog import bundled_models

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"


def test_detect_dialog_shows_the_active_layer_and_the_defaults(provider, qgis_app, qgis_iface, scene):
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
    from qgis.gui import QgsBrowserGuiModel

    layer = QgsRasterLayer(scene["image"], "post-event image")
    QgsProject.instance().addMapLayer(layer)
    qgis_iface.setActiveLayer(layer)
    browser = QgsBrowserGuiModel()
    qgis_iface.browserModel = lambda: browser  # pytest-qgis's interface has no browser of its own
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("landslidemapper:detect")
    dialog = AlgorithmDialog(algorithm, False, None)
    dialog.resize(1000, 700)
    dialog.show()
    qgis_app.processEvents()
    shown = dialog.mainWidget().createProcessingParameters(include_default=True)
    assert QgsProject.instance().mapLayer(shown["INPUT"]) is layer
    recommended = next(iter(bundled_models()), "none")
    assert (shown["MODEL"], shown["WINDOW"], shown["OVERLAP"], shown["INPUT_SCALING"], shown["PRECISION"],
            shown["DEVICE"], shown["MIN_AREA"]) == (recommended, 128, 32, "auto", "float32", "auto", 100.0)
    assert shown["TTA"] is False and shown["ENSEMBLE"] is False and shown["THRESHOLD"] is None
    assert "\n" not in algorithm.shortHelpString() and "Detect" in dialog.windowTitle() + algorithm.displayName()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "detect_dialog.png"))
    dialog.close()
    QgsProject.instance().removeMapLayer(layer.id())
