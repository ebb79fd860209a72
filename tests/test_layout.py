"""The architecture the folders promise: one import root, and a core free of QGIS."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for folder in ("algorithms", "bench", "core", "gui", "tests", "tools", "training")
           for p in sorted((ROOT / folder).rglob("*.py"))] + [ROOT / "plugin.py"]
LAUNCHERS = {ROOT / "core" / "__main__.py", ROOT / "training" / "__main__.py"}


def imported_modules(path: Path) -> list[str]:
    """Absolute module names a source imports (relative imports are inside the package)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_every_entry_point_imports_the_plugin_as_one_package():
    """``core`` or ``training`` imported as top-level packages would be second copies of
    every class beside ``landslide_mapper.core``'s (an ``except Cancelled`` would miss)."""
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in SOURCES if path not in LAUNCHERS
                 for name in imported_modules(path) if name.split(".")[0] in ("core", "training")]
    assert offenders == []


def test_core_imports_no_qgis():
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in sorted((ROOT / "core").rglob("*.py"))
                 for name in imported_modules(path) if name.split(".")[0] in ("qgis", "PyQt5", "PyQt6", "processing")]
    assert offenders == []


def test_the_launchers_run_from_the_plugin_folder():
    for package in ("core", "training"):
        run = subprocess.run([sys.executable, "-m", package, "--help"], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr
        assert f"python -m {package}" in run.stdout
