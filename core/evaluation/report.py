"""The evaluation report a mapper can hand on: one self-contained HTML page (no QGIS).

Scores and counts, the confusion matrix as a picture, an overview map of the scored area
(reference outlines, true detections, false alarms, misses; scale bar, CRS), the largest
misses and false alarms, and, when a probability raster was given, precision, recall and
F1 across thresholds with the chosen one marked. It says only what applies: no sentence
on points without points, no curve without probabilities. Drawn from what the scoring
already produced (:mod:`core.evaluation.scoring`); it computes no score itself.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np
from osgeo import ogr

from ..io.vectors import describe_crs
from .request import EvaluationRequest

#: the confusion matrix's cells by (row: predicted landslide?, column: reference landslide?)
CONFUSION_CELLS = {(True, True): ("TP", "tp", "#2e7d32"), (True, False): ("FP", "fp", "#c62828"),
                   (False, True): ("FN", "fn", "#1565c0"), (False, False): ("TN", "tn", "#9e9e9e")}
STATUS_COLOURS = {"true detection": "#1a9641", "false alarm": "#d7191c", "missed": "#2c7bb6"}
LARGEST = 10  # rows in each table of largest errors


@dataclass
class ReportObject:
    map: str  # "reference" or "prediction"
    status: str
    area_m2: float
    geometry: ogr.Geometry  # in the scoring grid's CRS
    mean_probability: float | None = None


@dataclass
class ThresholdCurve:
    """Pixel precision, recall and F1 of the probability raster at each threshold."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    chosen: float


def curve_from_histograms(landslide: np.ndarray, other: np.ndarray, edges: np.ndarray, chosen: float) -> ThresholdCurve:
    """The curve from histograms of the probability over reference landslide pixels and
    over the other scored pixels (a pixel is predicted at threshold t when p >= t)."""
    tp = np.cumsum(landslide[::-1])[::-1].astype(float)
    fp = np.cumsum(other[::-1])[::-1].astype(float)
    fn = landslide.sum() - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return ThresholdCurve(edges[:-1], precision, recall, f1, chosen)


def html_report(request: EvaluationRequest, result, *, objects: list[ReportObject],
                curve: ThresholdCurve | None = None) -> str:
    """The page for ``request`` scored as ``result`` (:class:`.scoring.EvaluationResult`):
    ``objects`` drawn and listed in the scoring grid's CRS, ``curve`` when a probability was given."""
    s = result.scores
    crs_name = describe_crs(result.grid.crs_wkt)
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in [
        ("Precision", f"{s['precision']:.4f}"), ("Recall", f"{s['recall']:.4f}"), ("F1", f"{s['f1']:.4f}"),
        ("IoU", f"{s['iou']:.4f}"), ("Accuracy", f"{s['accuracy']:.4f}"),
        ("Reference landslides detected", s["objects_detected"]),
        ("Reference landslides missed", s["objects_missed"]),
        ("False-alarm objects", s["false_alarm_objects"]),
        *([("Inventory points hit", result.points_hit), ("Inventory points missed", result.points_missed)]
          if result.points_hit is not None else []),
    ])
    coverage = ("any overlap" if request.min_coverage <= 0
                else f"at least {request.min_coverage:.0%} of its pixels covered")
    points_sentence = (f" Inventory points count as hit when a predicted pixel lies within {request.point_tolerance} "
                       "pixel(s)." if result.points_hit is not None else "")
    sections = [
        "<h2>Where the errors are</h2>", overview_figure(objects, crs_name),
        largest_table("Largest missed landslides", [o for o in objects if o.status == "missed"], crs_name),
        largest_table("Largest false alarms", [o for o in objects if o.status == "false alarm"], crs_name),
    ]
    if curve is not None:
        sections += ["<h2>Across thresholds</h2>", curve_figure(curve)]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Landslide map evaluation</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}} table{{border-collapse:collapse;margin:.5em 0}}
th,td{{border:1px solid #bbb;padding:.3em .8em;text-align:left}} img{{max-width:100%}}</style></head><body>
<h1>Landslide map evaluation</h1>
<p>Prediction: <code>{html.escape(request.prediction.path)}</code><br>Reference: <code>{html.escape(request.reference.path)}</code></p>
<h2>Scores</h2>
<table>{rows}</table>
<p>Pixel scores are the method's Eqs. 6-10 over the scored pixels. A reference landslide counts as
detected with {coverage}; a predicted object is a false alarm when it touches no reference landslide.
Objects are 4-connected regions (or the polygons as given).{points_sentence}</p>
<h2>Confusion matrix (pixels)</h2>
{confusion_svg(s)}
{''.join(sections)}
<h2>How the maps were aligned</h2>
<p>{html.escape(result.alignment, quote=False)}</p>
</body></html>
"""


def confusion_svg(scores: dict) -> str:
    """Rows: predicted landslide, predicted not; columns: reference landslide, reference not."""
    total = max(1, sum(scores[key] for _label, key, _colour in CONFUSION_CELLS.values()))
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="420" height="300" font-family="sans-serif">',
             '<text x="250" y="20" text-anchor="middle">reference</text>',
             '<text x="190" y="45" text-anchor="middle">landslide</text>',
             '<text x="330" y="45" text-anchor="middle">not landslide</text>',
             '<text x="60" y="120" text-anchor="middle">predicted</text>',
             '<text x="60" y="140" text-anchor="middle">landslide</text>',
             '<text x="60" y="230" text-anchor="middle">predicted not</text>']
    for (predicted, referenced), (label, key, colour) in CONFUSION_CELLS.items():
        count = scores[key]
        x, y = 120 + (0 if referenced else 140), 55 + (0 if predicted else 110)
        opacity = 0.25 + 0.75 * count / total
        parts.append(f'<rect x="{x}" y="{y}" width="140" height="110" fill="{colour}" fill-opacity="{opacity:.2f}" '
                     'stroke="#333"/>')
        parts.append(f'<text x="{x + 70}" y="{y + 50}" text-anchor="middle" font-weight="bold">{label}</text>')
        parts.append(f'<text x="{x + 70}" y="{y + 75}" text-anchor="middle">{count:,}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _figure(width: float, height: float):
    """(figure, axes) drawn by Agg, without pyplot: pyplot's global state (its backend,
    its open figures) belongs to the host program, QGIS's Python included, and this runs
    on a worker thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _rings(geometry: ogr.Geometry):
    """The exterior and interior rings of a (multi)polygon as (x, y) arrays."""
    polygons = [geometry] if geometry.GetGeometryType() in (ogr.wkbPolygon, ogr.wkbPolygon25D) else \
        [geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]
    for polygon in polygons:
        for i in range(polygon.GetGeometryCount()):
            points = np.array(polygon.GetGeometryRef(i).GetPoints())
            if len(points):
                yield points[:, 0], points[:, 1]


def overview_figure(objects: list[ReportObject], crs_name: str) -> str:
    """An overview map: reference outlines, predicted objects coloured by status, missed
    reference landslides filled; a scale bar and the CRS."""
    from matplotlib.patches import Patch

    figure, ax = _figure(8, 8)
    for o in objects:
        for x, y in _rings(o.geometry):
            if o.map == "reference":
                if o.status == "missed":
                    ax.fill(x, y, color=STATUS_COLOURS["missed"], alpha=0.5, linewidth=0)
                ax.plot(x, y, color="#00bcd4", linewidth=0.8)
            else:
                ax.fill(x, y, color=STATUS_COLOURS.get(o.status, "#777777"), alpha=0.6, linewidth=0)
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    if objects:
        _scale_bar(ax)
    ax.legend(handles=[Patch(facecolor="none", edgecolor="#00bcd4", label="reference outline"),
                       Patch(color=STATUS_COLOURS["true detection"], label="true detection"),
                       Patch(color=STATUS_COLOURS["false alarm"], label="false alarm"),
                       Patch(color=STATUS_COLOURS["missed"], alpha=0.5, label="missed landslide")],
              loc="upper right", fontsize=8)
    ax.set_title(f"Scored area — {crs_name}", fontsize=10)
    return f'<img alt="Overview map of the scored area" src="data:image/png;base64,{_png(figure)}">'


def _scale_bar(ax) -> None:
    """A bar of a round length (1, 2 or 5 x 10^n map units) about a fifth of the map's width."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    magnitude = 10 ** np.floor(np.log10(target))
    length = max(m * magnitude for m in (1, 2, 5) if m * magnitude <= target)
    left, bottom = x0 + (x1 - x0) * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([left, left + length], [bottom, bottom], color="black", linewidth=3)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(left + length / 2, bottom + (y1 - y0) * 0.015, label, ha="center", fontsize=8)


def largest_table(title: str, objects: list[ReportObject], crs_name: str) -> str:
    if not objects:
        return f"<h3>{html.escape(title)}</h3><p>None.</p>"
    largest = sorted(objects, key=lambda o: -o.area_m2)[:LARGEST]
    with_probability = any(o.mean_probability is not None for o in largest)
    head = "<tr><th>area (m²)</th><th>centre x</th><th>centre y</th>" + (
        "<th>mean probability</th>" if with_probability else "") + "</tr>"
    rows = []
    for o in largest:
        centre = o.geometry.Centroid()
        probability = "" if not with_probability else (
            f"<td>{o.mean_probability:.3f}</td>" if o.mean_probability is not None else "<td>—</td>")
        rows.append(f"<tr><td>{o.area_m2:,.0f}</td><td>{centre.GetX():.2f}</td><td>{centre.GetY():.2f}</td>"
                    f"{probability}</tr>")
    return (f"<h3>{html.escape(title)} ({len(objects)} in all; the {len(largest)} largest, centres in "
            f"{html.escape(crs_name)})</h3><table>{head}{''.join(rows)}</table>")


def curve_figure(curve: ThresholdCurve) -> str:
    figure, ax = _figure(7, 4)
    for values, label in ((curve.precision, "precision"), (curve.recall, "recall"), (curve.f1, "F1")):
        ax.plot(curve.thresholds, values, label=label)
    at = int(np.clip(np.searchsorted(curve.thresholds, curve.chosen, side="right") - 1, 0, len(curve.thresholds) - 1))
    ax.axvline(curve.chosen, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"chosen {curve.chosen:g}: F1 {curve.f1[at]:.3f}", (curve.chosen, curve.f1[at]),
                textcoords="offset points", xytext=(6, -14), fontsize=8)
    best = int(np.argmax(curve.f1))
    ax.set(xlabel="probability threshold", ylabel="pixel score", ylim=(0, 1), xlim=(0, 1))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return (f'<img alt="Precision, recall and F1 across thresholds" src="data:image/png;base64,{_png(figure)}">'
            f"<p>At the chosen threshold {curve.chosen:g}: precision {curve.precision[at]:.3f}, recall "
            f"{curve.recall[at]:.3f}, F1 {curve.f1[at]:.3f}. The best F1 here, {curve.f1[best]:.3f}, is at "
            f"{curve.thresholds[best]:.3f}: a threshold chosen on these very pixels, so not a fair score of the "
            "model, but a hint of how far its own threshold is from them.</p>")
