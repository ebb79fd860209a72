"""Scoring a landslide map against a reference inventory: the one scorer of pixels and
objects, pure NumPy, that Evaluate, training and the benchmarks share (:mod:`.metrics`);
maps of any kind brought onto one grid and scored, with their outputs (:mod:`.scoring`,
the entry point, which takes a :mod:`.request`; :mod:`.scoring_grid`, :mod:`.object_rasters`,
:mod:`.scoring_pass`, :mod:`.probability_tally`, :mod:`.output_layers` below it); the HTML
report (:mod:`.report`), which computes no score itself; and fitting the false-alarm filter
on validation images (:mod:`.filter_fitting`)."""
