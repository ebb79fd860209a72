"""Enum values by names that exist in QGIS 3.22 (Qt5/PyQt5) and in QGIS 4 (Qt6/PyQt6).

PyQt6 drops the short enum names (``QMessageBox.Yes``) for the fully scoped ones
(``QMessageBox.StandardButton.Yes``), which PyQt5 accepts too; QGIS 3.36+ moved many of its
own enums into ``Qgis`` (``Qgis.ProcessingSourceType.VectorPolygon``) and QGIS 4 drops the
old places (``QgsProcessing.TypeVectorPolygon``), which 3.22 does not know yet. Every such
value the plugin uses is resolved here once, from the newest spelling to the oldest, so the
rest of the plugin names each value one way. ``tests/algorithms/test_compat.py`` checks every path
below: the Qt ones against PyQt6 itself, the QGIS ones against this QGIS.
"""

from __future__ import annotations

import importlib

#: value name -> candidate dotted paths ("module:Class.Enum.Value"), newest first
PATHS: dict[str, tuple[str, ...]] = {
    # Processing parameters
    "NUMBER_DOUBLE": ("qgis.core:Qgis.ProcessingNumberParameterType.Double",
                      "qgis.core:QgsProcessingParameterNumber.Type.Double"),
    "NUMBER_INTEGER": ("qgis.core:Qgis.ProcessingNumberParameterType.Integer",
                       "qgis.core:QgsProcessingParameterNumber.Type.Integer"),
    "FLAG_ADVANCED": ("qgis.core:Qgis.ProcessingParameterFlag.Advanced",
                      "qgis.core:QgsProcessingParameterDefinition.Flag.FlagAdvanced"),
    "SOURCE_RASTER": ("qgis.core:Qgis.ProcessingSourceType.Raster", "qgis.core:QgsProcessing.SourceType.TypeRaster"),
    "SOURCE_POLYGON": ("qgis.core:Qgis.ProcessingSourceType.VectorPolygon",
                       "qgis.core:QgsProcessing.SourceType.TypeVectorPolygon"),
    "SOURCE_POINT": ("qgis.core:Qgis.ProcessingSourceType.VectorPoint",
                     "qgis.core:QgsProcessing.SourceType.TypeVectorPoint"),
    # raster data types
    "BYTE": ("qgis.core:Qgis.DataType.Byte",),
    "UINT16": ("qgis.core:Qgis.DataType.UInt16",),
    "INT16": ("qgis.core:Qgis.DataType.Int16",),
    "UINT32": ("qgis.core:Qgis.DataType.UInt32",),
    "INT32": ("qgis.core:Qgis.DataType.Int32",),
    "FLOAT32": ("qgis.core:Qgis.DataType.Float32",),
    "FLOAT64": ("qgis.core:Qgis.DataType.Float64",),
    "ARGB32": ("qgis.core:Qgis.DataType.ARGB32",),
    "ARGB32_PREMULTIPLIED": ("qgis.core:Qgis.DataType.ARGB32_Premultiplied",),
    "PALETTE_INDEX": ("qgis.core:Qgis.RasterColorInterpretation.PaletteIndex",
                      "qgis.core:QgsRaster.ColorInterpretation.PaletteIndex"),
    # styling and writing
    "RAMP_INTERPOLATED": ("qgis.core:Qgis.ShaderInterpolationMethod.Linear",
                          "qgis.core:QgsColorRampShader.Type.Interpolated"),
    "WRITER_NO_ERROR": ("qgis.core:Qgis.VectorFileWriterError.NoError",
                        "qgis.core:QgsVectorFileWriter.WriterError.NoError"),
    # Qt widgets and processes (the same scoped names in PyQt5 and PyQt6)
    "YES": ("qgis.PyQt.QtWidgets:QMessageBox.StandardButton.Yes",),
    "NO": ("qgis.PyQt.QtWidgets:QMessageBox.StandardButton.No",),
    "CLOSE": ("qgis.PyQt.QtWidgets:QDialogButtonBox.StandardButton.Close",),
    "CANCEL": ("qgis.PyQt.QtWidgets:QDialogButtonBox.StandardButton.Cancel",),
    "MERGED_CHANNELS": ("qgis.PyQt.QtCore:QProcess.ProcessChannelMode.MergedChannels",),
    "FAILED_TO_START": ("qgis.PyQt.QtCore:QProcess.ProcessError.FailedToStart",),
    "NORMAL_EXIT": ("qgis.PyQt.QtCore:QProcess.ExitStatus.NormalExit",),
    "NOT_RUNNING": ("qgis.PyQt.QtCore:QProcess.ProcessState.NotRunning",),
}


def resolve(path: str):
    """The object at ``module:Dotted.Name``; AttributeError or ImportError when absent."""
    module, _, dotted = path.partition(":")
    value = importlib.import_module(module)
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def first_available(name: str):
    for path in PATHS[name]:
        try:
            return resolve(path)
        except (AttributeError, ImportError):
            continue
    raise AttributeError(f"none of {PATHS[name]} exists in this QGIS")


globals().update({name: first_available(name) for name in PATHS})
