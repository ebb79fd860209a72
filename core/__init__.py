"""Landslide Mapper's engine: windows and blending, ONNX model + spec, derived bands,
outputs and polygons. No QGIS import here, so the same code runs in QGIS, in scripts,
in tests and in training."""
