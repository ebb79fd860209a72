"""The runtime dependency the plugin cannot ship (ONNX Runtime): finding it, and the exact
command that installs it into the Python QGIS runs on."""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

ONNXRUNTIME_MINIMUM = (1, 16)
ONNXRUNTIME_REQUIREMENT = "onnxruntime>=1.16"


class MissingDependency(RuntimeError):
    """ONNX Runtime is missing or too old; the message holds the command that fixes it."""


def qgis_python() -> str:
    """The interpreter QGIS embeds. Inside QGIS ``sys.executable`` is the QGIS binary or
    whatever ``python3`` comes first on PATH, so the path is built from the prefix of
    the running standard library instead."""
    prefix = Path(sys.base_prefix)
    if os.name == "nt":
        return str(prefix / "python.exe")
    return str(prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def install_command(requirement: str = ONNXRUNTIME_REQUIREMENT) -> list[str]:
    """pip into the user's site-packages of QGIS's Python (no administrator rights needed).
    A distribution-managed Python (PEP 668, e.g. Debian's) refuses even ``--user``
    installs without ``--break-system-packages``."""
    command = [qgis_python(), "-m", "pip", "install", "--user", "--upgrade", requirement]
    if (Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists():
        command.insert(-1, "--break-system-packages")
    return command


def command_text(command: list[str]) -> str:
    return " ".join(f'"{part}"' if " " in part or ">" in part or "<" in part else part for part in command)


@dataclass(frozen=True)
class DependencyProblem:
    """What is wrong with a dependency (``state``: "is not installed in QGIS's Python")
    and the command that fixes it; an adapter words them for its users."""

    name: str
    state: str
    command: list[str] = field(default_factory=install_command)

    @property
    def what(self) -> str:
        return f"{self.name}, which runs the landslide models, {self.state}."

    def __str__(self) -> str:
        return f"{self.what} Install it with this command (then restart QGIS): {command_text(self.command)}"


def onnxruntime_problem() -> DependencyProblem | None:
    """None when a recent enough ONNX Runtime imports; else what is wrong and the fix."""
    try:
        import onnxruntime
    except ImportError:
        state = "is not installed in QGIS's Python"
    else:
        found = tuple(int(p) for p in onnxruntime.__version__.split(".")[:2] if p.isdigit())
        if found >= ONNXRUNTIME_MINIMUM:
            return None
        state = f"is too old in QGIS's Python ({onnxruntime.__version__}; at least 1.16 is needed)"
    return DependencyProblem("ONNX Runtime", state)


def import_onnxruntime():
    problem = onnxruntime_problem()
    if problem:
        raise MissingDependency(str(problem))
    import onnxruntime

    return onnxruntime
