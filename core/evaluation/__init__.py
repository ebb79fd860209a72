"""Scoring a landslide map against a reference inventory: pixel scores (:mod:`.metrics`),
the scoring of maps and objects (:mod:`.scoring`), and the HTML report
(:mod:`.report`), which computes no score itself."""
