"""Detect as a test runs it: through Processing, read back as its results and its log;
or as core's request, to run with core.detect.pipeline.detect."""

from pathlib import Path

from landslide_mapper.core.detect.request import DetectRequest

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


def request(model, settings, min_area_m2=0.0) -> DetectRequest:
    """A Detect request for ``model`` with these windows, keeping every polygon by default."""
    return DetectRequest((str(model.path),), settings=settings, min_area_m2=min_area_m2)
