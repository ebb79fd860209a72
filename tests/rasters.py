"""Writing small GeoTIFFs for tests."""

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()


def write_raster(path, data, epsg=32648, geotransform=(440000.0, 1.0, 0.0, 3020000.0, 0.0, -1.0), nodata=None,
                 dtype=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    gdal_type = {np.uint8: gdal.GDT_Byte, np.float32: gdal.GDT_Float32, np.uint16: gdal.GDT_UInt16}[
        np.dtype(dtype or data.dtype).type
    ]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1], data.shape[0], gdal_type)
    ds.SetGeoTransform(geotransform)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(data):
        b = ds.GetRasterBand(i + 1)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        b.WriteArray(band)
    ds = None
    return str(path)


def read_raster(path):
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), ds.GetGeoTransform(), ds.GetProjection(), ds.GetRasterBand(1).GetNoDataValue()


def random_image(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (3, *shape)).astype(np.uint8)


def ramp_scene(path, pixel_m: float, size_m: int = 256) -> str:
    """Red brightens by 1 per metre eastwards; green and blue are flat."""
    n = int(size_m / pixel_m)
    red = np.tile((np.arange(n) * pixel_m).astype(np.uint8), (n, 1))
    flat = np.full((n, n), 100, np.uint8)
    return write_raster(path, np.stack([red, flat, flat]), epsg=32648,
                        geotransform=(440000.0, pixel_m, 0.0, 3020000.0, 0.0, -pixel_m))


#: four Bijie landslide images large enough for a 256-px tile each (../shared/data, never copied here)
MOSAIC_IMAGES = ("ls_0119", "ls_0178", "ls_0248", "ls_0264")
MOSAIC_TILE = 256
MOSAIC_GEOTRANSFORM = (500000.0, 0.8, 0.0, 3000000.0, 0.0, -0.8)  # UTM 48N, Bijie's 0.8 m


def _mosaic(bijie_folder, kind: str) -> np.ndarray:
    """The centres of MOSAIC_IMAGES' ``kind`` ("image" or "mask") PNGs, 2 x 2: (bands, rows, columns)."""
    tile = MOSAIC_TILE
    mosaic = None
    for k, name in enumerate(MOSAIC_IMAGES):
        pixels = gdal.Open(str(bijie_folder / "landslide" / kind / f"{name}.png")).ReadAsArray()
        pixels = pixels if pixels.ndim == 3 else pixels[None]
        if mosaic is None:
            mosaic = np.zeros((pixels.shape[0], 2 * tile, 2 * tile), np.uint8)
        top, left = (pixels.shape[1] - tile) // 2, (pixels.shape[2] - tile) // 2
        r, c = divmod(k, 2)
        mosaic[:, r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = pixels[:, top:top + tile, left:left + tile]
    return mosaic


def bijie_mosaic(bijie_folder, folder) -> tuple[np.ndarray, str]:
    """A 2 x 2 mosaic of the centres (where the scars mostly are) of four real Bijie
    landslide images, georeferenced: (the array, its 8-bit GeoTIFF)."""
    mosaic = _mosaic(bijie_folder, "image")
    return mosaic, write_raster(folder / "u8.tif", mosaic, geotransform=MOSAIC_GEOTRANSFORM)


def bijie_mosaic_truth(bijie_folder, folder) -> str:
    """The landslides mapped on bijie_mosaic's images, on its grid: a GeoTIFF, 1 landslide, 0 not."""
    truth = (_mosaic(bijie_folder, "mask")[0] > 0).astype(np.uint8)
    return write_raster(folder / "u8_truth.tif", truth, geotransform=MOSAIC_GEOTRANSFORM)


def polygons_of(truth, path, layer_name: str = "landslides") -> str:
    """The landslides of a truth raster (its non-zero pixels) as polygons in a GeoPackage,
    as a mapper's inventory over the image; ``path``."""
    raster = gdal.Open(str(truth))
    band = raster.GetRasterBand(1)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = dataset.CreateLayer(layer_name, osr.SpatialReference(wkt=raster.GetProjection()), ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0)
    assert layer.GetFeatureCount() > 0, f"{truth} holds no landslide"
    dataset = None
    return str(path)


def radiometric_copies(original: str, folder) -> dict[str, str]:
    """The 8-bit raster and its 12-bit (as ``gdal_translate -ot UInt16 -scale 0 255 0 4095``
    makes it), full-range 16-bit and Float32 0-1 copies, by name."""
    copies = {"8-bit": original}
    for name, ot, top in (("12-bit", "UInt16", 4095), ("16-bit", "UInt16", 65535), ("float32 0-1", "Float32", 1)):
        path = str(folder / f"{name}.tif")
        gdal.Translate(path, original, outputType=gdal.GetDataTypeByName(ot), scaleParams=[[0, 255, 0, top]])
        copies[name] = path
    return copies
