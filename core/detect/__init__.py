"""The Detect pipeline (:mod:`.pipeline`): probability, mask and landslide polygons of a
raster, run in one process or split into tiles and merged (:mod:`.tiling`)."""
