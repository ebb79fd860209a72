"""The runtime dependency the plugin cannot ship (ONNX Runtime): finding it, and the exact
command that installs it for the Python QGIS runs on.

Inside QGIS the plugin owns a folder for what it installs (:func:`use_folder`, given by the
QGIS side at plugin load): it sits at the end of ``sys.path``, so a package pip puts there
imports at once, in the same session, and nothing QGIS's Python already has is ever
shadowed. pip installs into it with ``--target`` and a constraints file that pins every
distribution QGIS's Python already has to its installed version (NumPy above all: a NumPy 2
pulled in by a dependency breaks QGIS's GDAL bindings). Nothing goes into the user's or the
system's site-packages, which every other Python program would see.

Outside QGIS (the command line, a developer's venv) no folder is registered and the
command is a plain ``pip install`` into the running Python.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

ONNXRUNTIME_MINIMUM = (1, 16)
ONNXRUNTIME_REQUIREMENT = "onnxruntime>=1.16"

_folder: Path | None = None
#: the desktop's way to offer the install (set by the plugin's GUI, never called at start-up)
_resolver: Callable[["DependencyProblem"], None] | None = None
#: where a desktop user installs it from, set by the plugin's GUI (e.g. its menu entry)
_desktop_hint: str = ""


class MissingDependency(RuntimeError):
    """ONNX Runtime is missing or too old; the message holds the command that fixes it
    (worded only when shown: a caller that just probes pays nothing)."""

    def __init__(self, problem: "DependencyProblem"):
        super().__init__(problem)
        self.problem = problem

    def __str__(self) -> str:
        return str(self.problem)


def qgis_python() -> str:
    """The interpreter QGIS embeds. Inside QGIS ``sys.executable`` is the QGIS binary or
    whatever ``python3`` comes first on PATH, so the path is built from the prefix of
    the running standard library instead."""
    prefix = Path(sys.base_prefix)
    if os.name == "nt":
        return str(prefix / "python.exe")
    return str(prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


# --- the plugin's own folder -----------------------------------------------------------------

def use_folder(folder: str | os.PathLike | None) -> Path | None:
    """Make ``folder`` the plugin's dependency folder: appended to ``sys.path`` (it does not
    need to exist yet), and the target of :func:`install_command`. None forgets it."""
    global _folder
    _folder = Path(folder).resolve() if folder is not None else None
    if _folder is not None and str(_folder) not in sys.path:
        sys.path.append(str(_folder))
    refresh()
    return _folder


def folder() -> Path | None:
    return _folder


def refresh() -> None:
    """Let the import system see what was just installed into the folder (no restart):
    forget its cached directory listings, and a cached "no such folder" for our folder
    (Python < 3.10 keeps that even through ``invalidate_caches``)."""
    if _folder is not None:
        sys.path_importer_cache.pop(str(_folder), None)
    importlib.invalidate_caches()


def constraints_path(target: Path) -> Path:
    """Beside the folder, not in it (it is on ``sys.path``); one per Python, as the folder."""
    return target.parent / f"{target.name}-constraints.txt"


_NAME = re.compile(r"[-_.]+")
_PUBLIC_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def installed_versions(exclude: Path | None = None) -> dict[str, str]:
    """Every distribution this Python imports (the first of a name on ``sys.path`` wins, as
    for imports), name -> public version; those under ``exclude`` (our folder) left out."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
            where = Path(str(dist.locate_file(""))).resolve()
        except Exception:  # a broken .dist-info: nothing to pin
            continue
        if not name or not version:
            continue
        if exclude is not None and (where == exclude or exclude in where.parents):
            continue
        version = version.split("+")[0]  # a distribution's own build label (Debian's "+dfsg") is not on PyPI
        if _PUBLIC_VERSION.match(version):
            found.setdefault(_NAME.sub("-", name).lower(), version)
    return found


def constraints_text(requirements: tuple[str, ...] = (ONNXRUNTIME_REQUIREMENT,), exclude: Path | None = None) -> str:
    """pip constraints: what QGIS's Python already has, at the version it has (the packages
    being installed left free)."""
    wanted = {_NAME.sub("-", re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0]).lower() for r in requirements}
    pins = {name: v for name, v in installed_versions(exclude).items() if name not in wanted}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def install_command(requirement: str = ONNXRUNTIME_REQUIREMENT, target: str | os.PathLike | None = None,
                    constraints: str | os.PathLike | None = None, python: str | None = None) -> list[str]:
    """pip into ``target`` (default: the registered folder) with ``constraints``; with no
    folder at all (outside QGIS), pip into the running Python."""
    target = target if target is not None else _folder
    if target is None:
        return [python or sys.executable, "-m", "pip", "install", "--upgrade", requirement]
    command = [python or qgis_python(), "-m", "pip", "install", "--upgrade", "--target", str(target)]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + [requirement]


def prepare_install(requirement: str = ONNXRUNTIME_REQUIREMENT) -> list[str]:
    """The command that installs ``requirement`` into the registered folder, its
    constraints file written beside it (so the command works as printed); a plain pip
    command outside QGIS."""
    if _folder is None:
        return install_command(requirement)
    pins = constraints_path(_folder)
    try:
        pins.parent.mkdir(parents=True, exist_ok=True)
        pins.write_text("# what QGIS's Python already has: pip must not replace it (written by Landslide Mapper)\n"
                        + constraints_text((requirement,), exclude=_folder), encoding="utf-8")
    except OSError:  # a read-only profile: at least NumPy stays what QGIS has
        import numpy

        return install_command(requirement) + [f"numpy=={numpy.__version__.split('+')[0]}"]
    return install_command(requirement, constraints=pins)


def command_text(command: list[str]) -> str:
    return " ".join(f'"{part}"' if " " in part or ">" in part or "<" in part else part for part in command)


def pip_available() -> bool:
    return importlib.util.find_spec("pip") is not None


@dataclass(frozen=True)
class DependencyProblem:
    """What is wrong with a dependency (``state``: "is not installed in QGIS's Python")
    and the command that fixes it; an adapter words them for its users."""

    name: str
    state: str
    requirement: str = ONNXRUNTIME_REQUIREMENT

    @cached_property
    def command(self) -> tuple[str, ...]:
        """Made (its constraints file written) when first asked for, not when the problem is found."""
        return tuple(prepare_install(self.requirement))

    @property
    def what(self) -> str:
        return f"{self.name}, which runs the landslide models, {self.state}."

    @property
    def how(self) -> str:
        pip = "" if pip_available() else (" pip is missing from QGIS's Python: install it first "
                                          "(Debian, Ubuntu: sudo apt install python3-pip).")
        where = f" {_desktop_hint}, or install it" if _desktop_hint else " Install it"
        return f"{pip}{where} with this command: {command_text(list(self.command))}"

    def __str__(self) -> str:
        return self.what + self.how


def onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def onnxruntime_problem() -> DependencyProblem | None:
    """None when a recent enough ONNX Runtime imports; else what is wrong and the fix."""
    version = onnxruntime_version()
    if version is None:
        state = "is not installed in QGIS's Python"
    else:
        found = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if found >= ONNXRUNTIME_MINIMUM:
            return None
        state = f"is too old in QGIS's Python ({version}; at least 1.16 is needed)"
    return DependencyProblem("ONNX Runtime", state)


def set_resolver(resolver: Callable[[DependencyProblem], None] | None, hint: str = "") -> None:
    """The desktop's offer to install what is missing (``resolver``, asked with the problem
    when an algorithm that needs it is opened) and where its users install it later."""
    global _resolver, _desktop_hint
    _resolver, _desktop_hint = resolver, hint if resolver is not None else ""


def resolve() -> DependencyProblem | None:
    """What is still wrong after the desktop (if any) had its chance to install it."""
    problem = onnxruntime_problem()
    if problem is not None and _resolver is not None:
        _resolver(problem)
        refresh()
        problem = onnxruntime_problem()
    return problem


def import_onnxruntime():
    problem = onnxruntime_problem()
    if problem:
        raise MissingDependency(problem)
    import onnxruntime

    return onnxruntime
