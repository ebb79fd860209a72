"""The streaming inference engine: sliding windows, blending weights and reflect padding
(:mod:`.windows`), and any model run over any raster in bounded memory (:mod:`.streaming`).
It knows nothing of landslides: Detect, saliency, evaluation and training all run on it."""
