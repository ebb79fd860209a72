"""Raster and vector I/O: pixel readers (:mod:`.readers`), outputs written all or nothing
and the engine's rows written to GeoTIFFs (:mod:`.outputs`), polygons from masks
(:mod:`.polygons`), landslide maps and inventories as vector layers (:mod:`.vectors`) and
resampling to a model's ground resolution and back (:mod:`.resolution`)."""
