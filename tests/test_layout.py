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


#: core's layers, lowest first: a module imports only from its own layer or those below,
#: and the units of one layer import each other in one direction only (no cycle). A unit is
#: a sub-package or a root module (the longest name that matches); adapters (algorithms/,
#: training/, bench/, tools/, gui/) sit above them all.
CORE_LAYERS = (
    # words every layer speaks: the shared errors (so a lower layer can raise what a higher one
    # catches), and progress/cancel, handed down every call chain (it stays in engine/, where
    # the engine's readers look for it, but imports nothing but errors)
    ("errors", "engine.progress"),
    # what a model is: its spec (bands, normalization, object filter), ONNX models, ensembles.
    # Below the I/O, because readers and resolution read the spec, and a spec reads no raster
    ("model",),
    # pixels and polygons in and out (io); windows and the streaming engine, which reads and
    # writes through io (never the reverse) and takes its input as a protocol, not imagery's class
    ("io", "engine"),
    # from imagery to the model's input, and training patches
    ("imagery",),
    # consumers of all of the above: scoring against an inventory (and fitting the object
    # filter on it), saliency maps
    ("evaluation", "saliency"),
    # Detect, which also draws the saliency summary
    ("detect",),
    # the command line
    ("cli", "__main__"),
)
LAYER_OF = {unit: rank for rank, units in enumerate(CORE_LAYERS) for unit in units}


def core_unit(parts: list[str]) -> str | None:
    """The unit of CORE_LAYERS a core module (name parts under core) belongs to."""
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYER_OF:
            return ".".join(parts[:n])
    return None


def core_imports(path: Path) -> list[tuple[int, list[str]]]:
    """(line, name parts under core) of every core module ``path`` imports, at any depth
    (lazy imports in functions included), relative imports resolved."""
    relative = path.relative_to(ROOT / "core").with_suffix("").parts
    package = list(relative[:-1])  # a module's package; an __init__'s is its own folder
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            if node.module:
                found.append((node.lineno, base + node.module.split(".")))
            else:  # from . import module
                found += [(node.lineno, base + [alias.name]) for alias in node.names]
        else:
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                parts = name.split(".")
                if parts[:2] == ["landslide_mapper", "core"]:
                    found.append((node.lineno, parts[2:]))
                elif parts[0] == "core":
                    found.append((node.lineno, parts[1:]))
    return found


def core_edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, "file:line imports core.x") across units of core."""
    edges = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        parts = list(path.relative_to(ROOT / "core").with_suffix("").parts)
        if parts == ["__init__"]:
            continue
        own = core_unit(parts[:-1] if parts[-1] == "__init__" else parts)
        assert own is not None, f"{path.relative_to(ROOT)} is in no layer: add its package to CORE_LAYERS"
        for line, target in core_imports(path):
            unit = core_unit(target)
            assert unit is not None, f"{path.relative_to(ROOT)}:{line} imports core.{'.'.join(target)}, in no layer"
            if unit != own:
                edges.append((own, unit, f"{path.relative_to(ROOT)}:{line} imports core.{'.'.join(target)}"))
    return edges


def test_core_imports_only_from_lower_layers():
    offenders = [f"{where} ({unit}, layer {LAYER_OF[unit]}) from {own} (layer {LAYER_OF[own]})"
                 for own, unit, where in core_edges() if LAYER_OF[unit] > LAYER_OF[own]]
    assert not offenders, "imports from a higher layer:\n" + "\n".join(offenders)


def test_no_cycle_between_units_of_one_layer():
    """Within a layer imports go one way: two units that need each other share a piece that
    belongs one layer down."""
    same_layer = [(own, unit, where) for own, unit, where in core_edges() if LAYER_OF[unit] == LAYER_OF[own]]
    graph: dict[str, set[str]] = {}
    for own, unit, _ in same_layer:
        graph.setdefault(own, set()).add(unit)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
                   for nxt in graph.get(start, ()))

    offenders = [f"{where} ({own} -> {unit}, and {unit} leads back to {own})"
                 for own, unit, where in same_layer if reaches(unit, own, {unit})]
    assert not offenders, "cycles within a layer:\n" + "\n".join(offenders)
