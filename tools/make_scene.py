"""Generate a deterministic, georeferenced demo/test scene: RGB image + DEM in UTM.

The project ships no third-party imagery; tests, benchmarks and ``make demo`` use this.
Hillsides are vegetated (textured green); landslide scars are bright, bare, elongated
patches on the steeper slopes; a road crosses the scene as a bright false-alarm trap.
Rows are generated in strips from pixel coordinates alone, so any size is streamed and
a given pixel is the same whatever the scene size.

    python tools/make_scene.py OUT_DIR [--size 2048] [--pixel 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

EPSG = 32648  # UTM 48N (Guizhou, where the Bijie data come from)
ORIGIN = (440000.0, 3020000.0)
CELL = 160  # one potential landslide per CELL x CELL pixels


def _hash(x, y, salt: float = 0.0):
    """Deterministic pseudo-random values in [0, 1) from integer coordinates."""
    v = np.sin(x * 12.9898 + y * 78.233 + salt * 37.719) * 43758.5453
    return v - np.floor(v)


def elevation(x, y):
    """Terrain height (m) at ground coordinates relative to the origin (m)."""
    return (
        900.0
        + 180.0 * np.sin(x / 700.0) * np.cos(y / 900.0)
        + 90.0 * np.sin((x + 2 * y) / 350.0)
        + 25.0 * np.cos((3 * x - y) / 160.0)
    )


def landslide_mask(cols, rows):
    """Bool mask of landslide pixels for integer pixel coordinate grids."""
    cx, cy = np.floor_divide(cols, CELL), np.floor_divide(rows, CELL)
    present = _hash(cx, cy, 1.0) < 0.55
    centre_x = cx * CELL + CELL * (0.25 + 0.5 * _hash(cx, cy, 2.0))
    centre_y = cy * CELL + CELL * (0.25 + 0.5 * _hash(cx, cy, 3.0))
    angle = np.pi * _hash(cx, cy, 4.0)
    length = 14 + 30 * _hash(cx, cy, 5.0)
    width = 6 + 10 * _hash(cx, cy, 6.0)
    dx, dy = cols - centre_x, rows - centre_y
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    # a ragged edge, like a real scar
    ragged = 1.0 + 0.15 * np.sin(7 * np.arctan2(v, u) + 10 * _hash(cx, cy, 7.0))
    return present & ((u / length) ** 2 + (v / width) ** 2 < ragged)


def rgb_strip(row0: int, rows: int, width: int, pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """(3, rows, width) uint8 RGB and the landslide truth mask for a strip."""
    yy, xx = np.mgrid[row0 : row0 + rows, 0:width].astype(np.float64)
    texture = _hash(xx, yy) - 0.5
    canopy = np.sin(xx / 5.3) * np.cos(yy / 4.1)  # tree crowns
    shade = np.clip(1.0 + (elevation(xx * pixel, yy * pixel) - 900.0) / 900.0, 0.7, 1.3)
    r = (65 + 20 * canopy + 30 * texture) * shade
    g = (105 + 25 * canopy + 30 * texture) * shade
    b = (55 + 15 * canopy + 20 * texture) * shade
    truth = landslide_mask(xx.astype(np.int64), yy.astype(np.int64))
    soil = 1.0 + 0.25 * texture
    r = np.where(truth, 185 * soil, r)
    g = np.where(truth, 160 * soil, g)
    b = np.where(truth, 125 * soil, b)
    road = np.abs(yy - (0.37 * xx + 300) % 5000) < 3
    r, g, b = (np.where(road, 200, c) for c in (r, g, b))
    rgb = np.clip(np.stack([r, g, b]), 0, 255).astype(np.uint8)
    return rgb, truth


def write_scene(out_dir: str | Path, size: int = 2048, pixel: float = 1.0, dem_pixel_factor: int = 2,
                with_truth: bool = True) -> dict[str, str]:
    """Write image.tif (RGB uint8), dem.tif (float32, coarser) and truth.tif; return paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    options = ["TILED=YES", "COMPRESS=DEFLATE"]
    gt = (ORIGIN[0], pixel, 0.0, ORIGIN[1], 0.0, -pixel)
    driver = gdal.GetDriverByName("GTiff")
    paths = {"image": str(out / "image.tif"), "dem": str(out / "dem.tif")}
    image = driver.Create(paths["image"], size, size, 3, gdal.GDT_Byte, options=options + ["PHOTOMETRIC=RGB"])
    image.SetGeoTransform(gt)
    image.SetProjection(srs.ExportToWkt())
    truth_ds = None
    if with_truth:
        paths["truth"] = str(out / "truth.tif")
        truth_ds = driver.Create(paths["truth"], size, size, 1, gdal.GDT_Byte, options=options)
        truth_ds.SetGeoTransform(gt)
        truth_ds.SetProjection(srs.ExportToWkt())
    strip = 512
    for row0 in range(0, size, strip):
        rows = min(strip, size - row0)
        rgb, truth = rgb_strip(row0, rows, size, pixel)
        for i in range(3):
            image.GetRasterBand(i + 1).WriteArray(rgb[i], 0, row0)
        if truth_ds is not None:
            truth_ds.GetRasterBand(1).WriteArray(truth.astype(np.uint8), 0, row0)
    image = truth_ds = None

    dem_pixel = pixel * dem_pixel_factor
    dem_size = int(np.ceil(size / dem_pixel_factor)) + 2
    dem = driver.Create(paths["dem"], dem_size, dem_size, 1, gdal.GDT_Float32, options=options)
    dem.SetGeoTransform((ORIGIN[0] - dem_pixel, dem_pixel, 0.0, ORIGIN[1] + dem_pixel, 0.0, -dem_pixel))
    dem.SetProjection(srs.ExportToWkt())
    dem.GetRasterBand(1).SetNoDataValue(-9999.0)
    for row0 in range(0, dem_size, strip):
        rows = min(strip, dem_size - row0)
        yy, xx = np.mgrid[row0 : row0 + rows, 0:dem_size].astype(np.float64)
        z = elevation((xx - 0.5) * dem_pixel, (yy - 0.5) * dem_pixel)
        dem.GetRasterBand(1).WriteArray(z.astype(np.float32), 0, row0)
    dem = None
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=2048, help="width and height in pixels")
    parser.add_argument("--pixel", type=float, default=1.0, help="pixel size in metres")
    args = parser.parse_args()
    for name, path in write_scene(args.out_dir, args.size, args.pixel).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
