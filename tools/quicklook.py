"""A quick-look PNG of a Detect run, as the map shows it: the image, the probability as a
translucent ramp (clear below 0.3) and the landslide polygons' outlines (yellow on a dark
halo), so a newcomer sees what the product does without opening QGIS.

    .venv/bin/python tools/quicklook.py IMAGE PROBABILITY POLYGONS OUT.png [--title TEXT]
"""

from __future__ import annotations

import argparse

import numpy as np
from osgeo import gdal, ogr

gdal.UseExceptions()
ogr.UseExceptions()

MAX_SIDE = 1400  # pixels of the picture's longer side


def read_overview(path: str, bands: int, step: int) -> np.ndarray:
    dataset = gdal.Open(path)
    width, height = dataset.RasterXSize // step, dataset.RasterYSize // step
    return np.stack([dataset.GetRasterBand(b + 1).ReadAsArray(buf_xsize=width, buf_ysize=height)
                     for b in range(min(bands, dataset.RasterCount))])


def outline_rings(path: str, geotransform, step: int):
    """Every ring of the polygon layer, in picture pixel coordinates."""
    dataset = ogr.Open(path)
    layer = dataset.GetLayer(0)
    x0, dx, _, y0, _, dy = geotransform
    for feature in layer:
        geometry = feature.GetGeometryRef()
        parts = [geometry] if geometry.GetGeometryType() == ogr.wkbPolygon else [
            geometry.GetGeometryRef(i) for i in range(geometry.GetGeometryCount())]
        for polygon in parts:
            for i in range(polygon.GetGeometryCount()):
                points = np.array(polygon.GetGeometryRef(i).GetPoints())
                yield (points[:, 0] - x0) / dx / step, (points[:, 1] - y0) / dy / step


def quicklook(image: str, probability: str, polygons: str, out: str, title: str = "") -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure

    dataset = gdal.Open(image)
    step = max(1, int(np.ceil(max(dataset.RasterXSize, dataset.RasterYSize) / MAX_SIDE)))
    rgb = read_overview(image, 3, step).astype(np.float32)
    low, high = np.percentile(rgb, (1, 99))
    rgb = np.clip((rgb - low) / max(high - low, 1e-6), 0, 1).transpose(1, 2, 0)
    prob = read_overview(probability, 1, step)[0].astype(np.float32)
    prob = np.ma.masked_where((prob < 0.3) | (prob > 1), prob)
    ramp = LinearSegmentedColormap.from_list("RdPu", ["#fcc5c0", "#f768a1", "#c51b8a", "#7a0177"])
    figure = Figure(figsize=(9, 9 * rgb.shape[0] / rgb.shape[1] + 0.4))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 0.96 if title else 1))
    ax.imshow(rgb, interpolation="bilinear")
    ax.imshow(prob, cmap=ramp, vmin=0.3, vmax=1.0, alpha=0.55, interpolation="nearest")
    for x, y in outline_rings(polygons, dataset.GetGeoTransform(), step):
        ax.plot(x, y, color="#141414", linewidth=2.4, alpha=0.7)
        ax.plot(x, y, color="#ffeb3b", linewidth=1.1)
    ax.set_xlim(0, rgb.shape[1])
    ax.set_ylim(rgb.shape[0], 0)
    ax.axis("off")
    if title:
        figure.suptitle(title, fontsize=10, y=0.995)
    figure.savefig(out, dpi=110)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("image", "probability", "polygons", "out"):
        parser.add_argument(name)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    print(f"quick-look: {quicklook(args.image, args.probability, args.polygons, args.out, args.title)}")


if __name__ == "__main__":
    main()
