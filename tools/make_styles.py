"""Regenerate the QML styles in styles/ with QGIS's own API (so they match its format).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/make_styles.py
"""

from pathlib import Path

import numpy as np
from osgeo import gdal, osr
from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsMarkerSymbol,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

STYLES = Path(__file__).resolve().parent.parent / "styles"
# The three Detect layers are designed together, to be read over the image at a glance:
# - probability: ColorBrewer RdPu (a hue no terrain has), clear below 0.3 and never opaque,
#   so the image shows through where the model is unsure;
# - polygons: an unfilled yellow outline on a dark halo, on top, readable on any terrain;
# - mask: cyan, translucent, loaded unchecked (it says what the polygons draw);
# - set-aside polygons: thin grey dots, visible but quiet.
PROBABILITY_RAMP = [(0.0, "#feebe2", 0), (0.3, "#fcc5c0", 0), (0.5, "#fa9fb5", 60), (0.7, "#f768a1", 100),
                    (0.85, "#c51b8a", 130), (1.0, "#7a0177", 150)]
POLYGON_OUTLINE, POLYGON_HALO = "#ffeb3b", "20,20,20,170"


def scratch_raster(path: str, dtype) -> QgsRasterLayer:
    ds = gdal.GetDriverByName("GTiff").Create(path, 2, 2, 1, dtype)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetGeoTransform((0, 1, 0, 2, 0, -1))
    ds.GetRasterBand(1).WriteArray(np.array([[0, 1], [0, 1]]))
    ds = None
    return QgsRasterLayer(path, "scratch")


def categorized(geometry: str, field: str, classes, filename: str) -> None:
    """A categorized style: translucent fills with a solid outline, or filled circles."""
    layer = QgsVectorLayer(f"{geometry}?crs=EPSG:32648", "scratch", "memory")
    categories = []
    for value, label, colour in classes:
        c = QColor(colour)
        if geometry == "Point":
            symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": colour, "size": "2.6",
                                                   "outline_color": "255,255,255"})
        else:
            symbol = QgsFillSymbol.createSimple({"color": f"{c.red()},{c.green()},{c.blue()},70",
                                                 "outline_color": colour, "outline_width": "0.5",
                                                 "outline_width_unit": "MM"})
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))
    layer.saveNamedStyle(str(STYLES / filename))


def outline_only(colour: str, width_mm: str, line_style: str, filename: str) -> None:
    """A polygon style of an unfilled outline."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32648", "scratch", "memory")
    symbol = QgsFillSymbol.createSimple({"color": "0,0,0,0", "outline_color": colour, "outline_width": width_mm,
                                         "outline_width_unit": "MM", "outline_style": line_style})
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.saveNamedStyle(str(STYLES / filename))


def main():
    app = QgsApplication([], False)
    app.initQgis()
    STYLES.mkdir(exist_ok=True)

    layer = scratch_raster("/tmp/_lm_prob.tif", gdal.GDT_Float32)
    ramp = QgsColorRampShader(0.0, 1.0)
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
    items = []
    for value, colour, alpha in PROBABILITY_RAMP:
        c = QColor(colour)
        c.setAlpha(alpha)
        items.append(QgsColorRampShader.ColorRampItem(value, c, f"{value:.1f}"))
    ramp.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    renderer.setOpacity(0.85)
    layer.setRenderer(renderer)
    layer.saveNamedStyle(str(STYLES / "probability.qml"))

    layer = scratch_raster("/tmp/_lm_mask.tif", gdal.GDT_Byte)
    classes = [
        QgsPalettedRasterRenderer.Class(0, QColor(0, 0, 0, 0), "not landslide"),
        QgsPalettedRasterRenderer.Class(1, QColor(0, 188, 212, 140), "landslide"),
    ]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
    layer.saveNamedStyle(str(STYLES / "mask.qml"))

    vector = QgsVectorLayer("Polygon?crs=EPSG:32648", "scratch", "memory")
    symbol = QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": POLYGON_HALO, "outline_width": "1.1", "outline_width_unit": "MM"})
    outline = QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": POLYGON_OUTLINE, "outline_width": "0.5", "outline_width_unit": "MM"})
    symbol.appendSymbolLayer(outline.symbolLayer(0).clone())
    vector.setRenderer(QgsSingleSymbolRenderer(symbol))
    vector.saveNamedStyle(str(STYLES / "polygons.qml"))

    outline_only("#00e5ff", "0.5", "dash", "zones.qml")
    # polygons the object filter set aside: present, but quiet (grey, dotted)
    outline_only("#d0d0d0", "0.35", "dot", "dropped.qml")
    # Evaluate's layers: false positives red, false negatives blue (the usual error colours)
    categorized("Polygon", "error_code", [(1, "false positive", "#d7191c"), (2, "false negative", "#2c7bb6")],
                "errors.qml")
    categorized("Polygon", "status", [("detected", "detected", "#1a9641"), ("missed", "missed", "#2c7bb6"),
                                      ("true detection", "true detection", "#a6d96a"),
                                      ("false alarm", "false alarm", "#d7191c"),
                                      ("not scored", "not scored", "#bababa")], "evaluation_objects.qml")
    categorized("Point", "status", [("hit", "hit", "#1a9641"), ("missed", "missed", "#d7191c"),
                                    ("not scored", "not scored", "#bababa")], "evaluation_points.qml")
    # no exitQgis(): it can crash on teardown in a script, and the process ends here anyway
    print("styles written to", STYLES)


if __name__ == "__main__":
    main()
