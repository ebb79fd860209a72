"""Landslide Mapper's engine, with no QGIS import, so the same code runs in QGIS, in
scripts, in tests and in training. Its rooms:

- :mod:`.engine`: sliding windows and the streaming inference engine;
- :mod:`.model`: the model spec, ONNX models, ensembles, the bundled catalog;
- :mod:`.imagery`: derived bands, scaling and the model's input (shared with training);
- :mod:`.io`: raster readers, safe outputs, polygons, resolution matching;
- :mod:`.detect`: the Detect pipeline, in one process or split into tiles;
- :mod:`.evaluation`: scoring against an inventory, and its report;
- :mod:`.saliency`: saliency rasters and salient zones; :mod:`.errors`: shared errors;
  :mod:`.cli`: ``python -m core``.
"""
