"""Detect run through Processing as a test reads it back: its results and its log."""

from pathlib import Path

ALG = "landslidemapper:detect"


def run(params):
    """processing.run; returns (results, the lines Detect logged)."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, info):
            self.lines.append(info)

    feedback = Log()
    results = processing.run(ALG, params, context=QgsProcessingContext(), feedback=feedback)
    return results, feedback.lines


def outputs(folder: Path, polygons: str = "landslides.gpkg") -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    return {"OUTPUT_PROBABILITY": str(folder / "probability.tif"), "OUTPUT_MASK": str(folder / "mask.tif"),
            "OUTPUT_POLYGONS": str(folder / polygons)}
