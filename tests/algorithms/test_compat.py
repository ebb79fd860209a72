"""QGIS 4 (Qt6) readiness: every enum the plugin names resolves in this QGIS 3.22 and, for
Qt's, in PyQt6 itself (installed from PyPI in the test venv); no short enum name or
``exec_`` is left in the plugin's code."""

import re
import subprocess
import sys

import pytest
from landslide_mapper.algorithms import compat
from locations import ROOT

PLUGIN_SOURCES = [ROOT / "plugin.py", ROOT / "__init__.py", *sorted((ROOT / "algorithms").glob("*.py")),
                  *sorted((ROOT / "gui").glob("*.py"))]


@pytest.mark.parametrize("name", sorted(compat.PATHS))
def test_every_value_resolves_in_this_qgis(name):
    resolved = [path for path in compat.PATHS[name] if _resolves(path)]
    assert resolved, f"{name}: none of {compat.PATHS[name]} exists in QGIS 3.22"
    assert getattr(compat, name) == compat.resolve(resolved[0])


def _resolves(path):
    try:
        compat.resolve(path)
        return True
    except (AttributeError, ImportError):
        return False


def test_qt_paths_exist_in_pyqt6_and_the_short_names_do_not():
    """Run in a child process: PyQt5 (QGIS's) and PyQt6 must not share one."""
    qt_paths = [p for paths in compat.PATHS.values() for p in paths if p.startswith("qgis.PyQt.")]
    assert len(qt_paths) >= 5
    probe = (
        "import importlib, sys\n"
        "missing = []\n"
        f"for path in {qt_paths!r}:\n"
        "    module, _, dotted = path.replace('qgis.PyQt.', 'PyQt6.').partition(':')\n"
        "    value = importlib.import_module(module)\n"
        "    try:\n"
        "        for part in dotted.split('.'): value = getattr(value, part)\n"
        "    except AttributeError: missing.append(path)\n"
        "from PyQt6.QtWidgets import QMessageBox\n"
        "print('MISSING', missing, 'SHORT', hasattr(QMessageBox, 'Yes'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "MISSING [] SHORT False" in out.stdout, out.stdout


SHORT_FORMS = re.compile(
    r"QMessageBox\.(Yes|No|Ok|Cancel)\b|QDialogButtonBox\.(Close|Ok|Cancel)\b|QProcess\.(MergedChannels|FailedToStart)\b"
    r"|Qgis\.(Byte|UInt16|Int16|UInt32|Int32|Float32|Float64|ARGB32)\b|QgsProcessing\.Type[A-Z]"
    r"|QgsProcessingParameterNumber\.(Double|Integer)\b|QgsProcessingParameterDefinition\.Flag[A-Z]"
    r"|QgsColorRampShader\.(Interpolated|Discrete|Exact)\b|QgsVectorFileWriter\.NoError\b|\.exec_\(")


def test_no_short_enum_names_left_in_the_plugin():
    found = [f"{path.name}:{n}: {line.strip()}" for path in PLUGIN_SOURCES if path.name != "compat.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if SHORT_FORMS.search(line)]
    assert not found, "\n".join(found)


def test_metadata_declares_qt6_support():
    metadata = (ROOT / "metadata.txt").read_text()
    assert re.search(r"^supportsQt6=True$", metadata, re.MULTILINE)
