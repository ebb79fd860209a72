"""Writing small GeoTIFFs for tests."""

import numpy as np
from osgeo import gdal, osr

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
