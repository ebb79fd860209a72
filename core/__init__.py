"""Landslide Mapper's engine, with no QGIS import, so the same code runs in QGIS, in
scripts, in tests and in training. Its rooms, in layers (lowest first; a room imports only
from its own layer or those below, see ``CORE_LAYERS`` in tests/test_layout.py, which
checks it):

- :mod:`.errors` (shared errors) and :mod:`.engine.progress` (progress and cancel);
- :mod:`.model`: the model spec, ONNX models, ensembles, the bundled catalog, the
  object filter a spec carries;
- :mod:`.io`: raster readers, safe outputs, polygons, landslide maps as vector layers,
  resolution matching; :mod:`.engine`: sliding windows and the streaming inference engine;
- :mod:`.imagery`: derived bands, scaling and the model's input (shared with training);
- :mod:`.evaluation`: scoring against an inventory, its report, fitting the object
  filter; :mod:`.saliency`: saliency rasters and salient zones;
- :mod:`.detect`: the Detect pipeline, in one process or split into tiles;
- :mod:`.cli`: ``python -m core``.
"""
