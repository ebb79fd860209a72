"""The Python that "Train landslide model" trains in (no QGIS import): found, or made once.

Training needs TensorFlow, which QGIS's Python must not have: its NumPy is pinned by GDAL,
and TensorFlow's import alone costs seconds and a gigabyte. The plugin owns a venv for it
in the QGIS profile (``<profile>/python/landslide_mapper_training``), made by two commands
(:meth:`TrainingEnvironment.setup_commands`): ``venv --system-site-packages`` from QGIS's
own Python (the system site packages give GDAL's ``osgeo``, which pip cannot install to
match the system's library), then pip with TensorFlow CPU, tf2onnx and ONNX Runtime at
the pins of requirements.txt. QGIS's own Python is never touched, and once made the venv
is found again on every run, never reinstalled.

Who makes it: in the desktop the plugin sets a resolver (:func:`set_resolver`) that asks
the mapper and shows pip's output, called by :func:`resolve` when the algorithm is opened;
headless (``qgis_process``), and from a worker thread, nothing asks and the message of
:class:`TrainingEnvironmentError` names the one command to run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.model.dependencies import command_text, qgis_python

PLUGIN_DIR = Path(__file__).resolve().parent.parent
#: a Python with TensorFlow and tf2onnx, set by the user: only it is tried, never installed into
PYTHON_VARIABLE = "LANDSLIDE_MAPPER_TRAINING_PYTHON"
#: the venv the plugin owns, in the QGIS profile's python folder
VENV_NAME = "landslide_mapper_training"
#: for tests and administrators: the folder of the plugin's venv instead of the profile's; when
#: set, only it is looked in (not a development checkout's .venv), and the setup makes it there
VENV_VARIABLE = "LANDSLIDE_MAPPER_TRAINING_VENV"
#: what the download weighs, for the question and the messages (TensorFlow CPU is most of it)
DOWNLOAD = "about 600 MB"
#: what the child imports; osgeo (GDAL) comes from the system site packages
NEEDED = ("tensorflow", "tf2onnx", "onnx", "onnxruntime", "osgeo")
TRAINING_PACKAGES = ("numpy", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime")
_FALLBACK_PINS = {"numpy": "numpy>=1.26,<2"}
#: what a venv command writes (and nothing else): a folder holding only these may be removed
_VENV_PARTS = {"pyvenv.cfg", "bin", "lib", "lib64", "include", "share", "Scripts", "Lib", "Include"}

#: the desktop's offer to make the venv (set by the plugin's GUI, called from resolve())
_resolver: Callable[["TrainingEnvironment"], None] | None = None
#: where a desktop user makes it later (the menu entry), named in the messages
_desktop_hint: str = ""


class TrainingEnvironmentError(RuntimeError):
    """No Python with TensorFlow was found; the message names the command that makes one.
    ``installable``: the plugin's own venv would do (no Python of the user's was named)."""

    def __init__(self, message: str, installable: bool = True):
        super().__init__(message)
        self.installable = installable


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements() -> list[str]:
    """The training packages with the pins of the plugin's requirements.txt (NumPy below 2:
    the venv sees the system's GDAL, built against NumPy 1)."""
    pins = dict(_FALLBACK_PINS)
    path = PLUGIN_DIR / "requirements.txt"
    if path.is_file():
        for line in path.read_text().splitlines():
            requirement = line.split("#")[0].strip()
            name = requirement.split("=")[0].split("<")[0].split(">")[0].split("[")[0].strip()
            if name in TRAINING_PACKAGES:
                pins[name] = requirement
    return [pins.get(name, name) for name in TRAINING_PACKAGES]


def base_python() -> str:
    """The Python a venv is made from: QGIS's own (see core.model.dependencies)."""
    python = qgis_python()
    return python if Path(python).exists() else sys.executable


def child_environment() -> dict[str, str]:
    """The environment of a child Python: QGIS's own Python settings removed (a venv's
    interpreter must find its own standard library), output unbuffered, TensorFlow quiet."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def missing_modules(python: str | os.PathLike, needed: tuple[str, ...] = NEEDED) -> list[str]:
    """The modules of ``needed`` that ``python`` lacks (all of them when it does not run);
    looked up without importing TensorFlow."""
    probe = ("import importlib.util as u, json; "
             f"print(json.dumps([m for m in {list(needed)!r} if u.find_spec(m) is None]))")
    try:
        run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120,
                             env=child_environment())
        return json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else list(needed)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return list(needed)


@dataclass(frozen=True)
class TrainingEnvironment:
    """The plugin's training venv: where it is, the Python it is made from, what pip puts in
    it (``packages``: pip install's arguments, the pinned training packages by default) and
    the modules a training Python must have (``needed``)."""

    venv: Path
    base_python: str
    packages: tuple[str, ...] | None = None
    needed: tuple[str, ...] = NEEDED

    @classmethod
    def in_profile(cls, profile_python_dir: Path) -> "TrainingEnvironment":
        """The venv in the profile's python folder, or the folder ``$LANDSLIDE_MAPPER_TRAINING_VENV`` names."""
        named = os.environ.get(VENV_VARIABLE)
        return cls(Path(named) if named else Path(profile_python_dir) / VENV_NAME, base_python())

    @property
    def python(self) -> Path:
        return venv_python(self.venv)

    def setup_commands(self) -> list[list[str]]:
        """Make the venv (``--clear``: what an earlier, unfinished try left goes first), then
        pip into it."""
        packages = list(self.packages) if self.packages is not None else requirements()
        return [[self.base_python, "-m", "venv", "--system-site-packages", "--clear", str(self.venv)],
                [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", *packages]]

    def setup_command(self) -> str:
        """The same as one line a shell runs."""
        return " && ".join(command_text(c) for c in self.setup_commands())

    def find(self) -> str:
        """The Python to train with: ``$LANDSLIDE_MAPPER_TRAINING_PYTHON`` when set (only it),
        else the plugin's venv, else a development checkout's ``.venv`` (unless
        ``$LANDSLIDE_MAPPER_TRAINING_VENV`` names the venv: then only it)."""
        make = (f"Make it once from {_desktop_hint.removeprefix('In QGIS: ')} (or with this command: "
                f"{self.setup_command()})" if _desktop_hint else f"Make it once with this command: {self.setup_command()}")
        if os.environ.get(PYTHON_VARIABLE):
            python = os.environ[PYTHON_VARIABLE]
            missing = missing_modules(python, self.needed)
            if missing:
                raise TrainingEnvironmentError(
                    f"{PYTHON_VARIABLE} names {python}, which lacks {', '.join(missing)}. Point it to a Python "
                    f"with TensorFlow, or unset it and use the plugin's training environment. {make}",
                    installable=False)
            return python
        checkout = () if os.environ.get(VENV_VARIABLE) else (venv_python(PLUGIN_DIR / ".venv"),)
        for python in (self.python, *checkout):
            if python.is_file() and not missing_modules(python, self.needed):
                return str(python)
        raise TrainingEnvironmentError(
            f"Training needs TensorFlow, which runs in an environment of Landslide Mapper's own ({DOWNLOAD} to "
            f"download, in {self.venv}), never in QGIS's Python (GDAL pins its NumPy). {make}")

    def remove_unfinished(self) -> bool:
        """Remove the venv after a failed or cancelled setup, so that the next try starts
        clean; only a folder that holds nothing but what a venv command writes. True when
        removed (or never made)."""
        if not self.venv.exists():
            return True
        if not self.venv.is_dir() or not {p.name for p in self.venv.iterdir()} <= _VENV_PARTS:
            return False
        shutil.rmtree(self.venv, ignore_errors=True)
        return not self.venv.exists()


def set_resolver(resolver: Callable[[TrainingEnvironment], None] | None, hint: str = "") -> None:
    """The desktop's offer to make the training venv (``resolver``, asked with the
    environment when the algorithm is opened) and where its users make it later."""
    global _resolver, _desktop_hint
    _resolver, _desktop_hint = resolver, hint if resolver is not None else ""


def resolve(environment: TrainingEnvironment) -> str:
    """The training Python; when there is none and the desktop set a resolver, it has its
    chance to make the venv first. Raises :class:`TrainingEnvironmentError` (naming the
    command) when there is still none."""
    try:
        return environment.find()
    except TrainingEnvironmentError as missing:
        if _resolver is None or not missing.installable:
            raise
    _resolver(environment)
    return environment.find()
