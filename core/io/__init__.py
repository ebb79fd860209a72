"""Raster and vector I/O: pixel readers (:mod:`.readers`), outputs written all or nothing
(:mod:`.outputs`), polygons from masks (:mod:`.polygons`), landslide maps and inventories
as vector layers (:mod:`.vectors`) and resampling to a model's ground resolution
(:mod:`.resolution`)."""
