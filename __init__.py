"""Landslide Mapper QGIS plugin."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import LandslideMapperPlugin

    return LandslideMapperPlugin(iface)
