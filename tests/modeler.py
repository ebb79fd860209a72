"""Building graphical models (.model3) in tests: an image input, chained children, a
save-and-reload round trip through the file, and a run through Processing."""

from __future__ import annotations


def image_chain(name: str):
    """A new model with one raster input named "image"."""
    from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingModelParameter, QgsProcessingParameterRasterLayer

    chain = QgsProcessingModelAlgorithm(name, "tests")
    chain.addModelParameter(QgsProcessingParameterRasterLayer("image", "Image"), QgsProcessingModelParameter("image"))
    return chain


def add_child(chain, algorithm_id: str, child_id: str, static=None, from_children=None, outputs=None):
    """Add a child fed by the model's image (INPUT), static values and other children's
    outputs ({param: (child_id, output)}); ``outputs`` maps model output names to child outputs."""
    from qgis.core import (
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
    )

    child = QgsProcessingModelChildAlgorithm(algorithm_id)
    child.setChildId(child_id)
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("image")])
    for name, value in (static or {}).items():
        child.addParameterSources(name, [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
    for name, (source_child, output) in (from_children or {}).items():
        child.addParameterSources(name, [QgsProcessingModelChildParameterSource.fromChildOutput(source_child, output)])
    model_outputs = {}
    for model_name, child_output in (outputs or {}).items():
        out = QgsProcessingModelOutput(model_name)
        out.setChildOutputName(child_output)
        model_outputs[model_name] = out
    child.setModelOutputs(model_outputs)
    chain.addChildAlgorithm(child)


def run_saved(chain, path: str, parameters: dict) -> dict:
    """Save the model to a .model3 file, load it back, and run the loaded one."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProcessingModelAlgorithm

    assert chain.toFile(path)
    loaded = QgsProcessingModelAlgorithm()
    assert loaded.fromFile(path)
    return processing.run(loaded, parameters, context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
