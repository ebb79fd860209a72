"""Training in a child process, for the "Train landslide model" algorithm (no QGIS import):
the Python that has TensorFlow, the training CLI run in it, its progress lines read, cancel.

QGIS's Python never imports TensorFlow: its NumPy is pinned by GDAL, and TensorFlow's
import alone costs seconds and a gigabyte. The child runs ``python -m training`` from the
plugin folder, the same CLI a developer runs (training/cli.py), and prints one JSON
progress line per validation and every few seconds between (``--progress-json``).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import Cancelled

PLUGIN_DIR = Path(__file__).resolve().parent.parent
#: a Python with TensorFlow and tf2onnx, set by the user: only it is tried
PYTHON_VARIABLE = "LANDSLIDE_MAPPER_TRAINING_PYTHON"
#: the venv the plugin owns, in the QGIS profile's python folder
VENV_NAME = "landslide_mapper_training"
#: what the child imports; osgeo (GDAL) comes from the system site packages
NEEDED = ("tensorflow", "tf2onnx", "onnx", "onnxruntime", "osgeo")
TRAINING_PACKAGES = ("numpy", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime")
_FALLBACK_PINS = {"numpy": "numpy>=1.26,<2"}


class TrainingEnvironmentError(RuntimeError):
    """No Python with TensorFlow was found; the message names the command that makes one."""


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


def setup_command(venv: Path, base_python: str) -> str:
    """The one command that makes the plugin's training venv. It sees the system site
    packages for GDAL (osgeo), which pip cannot install to match the system's library."""
    python = venv_python(venv)
    packages = " ".join(f'"{r}"' for r in requirements())
    return f'"{base_python}" -m venv --system-site-packages "{venv}" && "{python}" -m pip install {packages}'


def missing_training_packages(python: str | os.PathLike) -> list[str]:
    """The modules of :data:`NEEDED` that ``python`` lacks (all of them when it does not run);
    looked up without importing TensorFlow."""
    probe = ("import importlib.util as u, json; "
             f"print(json.dumps([m for m in {list(NEEDED)!r} if u.find_spec(m) is None]))")
    try:
        run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120,
                             env=child_environment())
        return json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else list(NEEDED)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return list(NEEDED)


def find_training_python(profile_python_dir: Path | None, base_python: str) -> str:
    """The Python to train with: ``$LANDSLIDE_MAPPER_TRAINING_PYTHON`` when set (only it),
    else the plugin's venv in the QGIS profile, else a development checkout's ``.venv``."""
    venv = (profile_python_dir or Path.home()) / VENV_NAME
    fix = setup_command(venv, base_python)
    if os.environ.get(PYTHON_VARIABLE):
        python = os.environ[PYTHON_VARIABLE]
        missing = missing_training_packages(python)
        if missing:
            raise TrainingEnvironmentError(
                f"{PYTHON_VARIABLE} names {python}, which lacks {', '.join(missing)}. Point it to a Python with "
                f"TensorFlow, or unset it and make the plugin's training environment once with: {fix}")
        return python
    candidates = [venv_python(venv), venv_python(PLUGIN_DIR / ".venv")]
    for python in candidates:
        if python.is_file() and not missing_training_packages(python):
            return str(python)
    raise TrainingEnvironmentError(
        "Training needs TensorFlow, which QGIS's Python does not have (and must not: its NumPy is pinned by "
        f"GDAL). Make the plugin's training environment once (about 600 MB), then run again: {fix}")


def child_environment() -> dict[str, str]:
    """The environment of a child Python: QGIS's own Python settings removed (a venv's
    interpreter must find its own standard library), output unbuffered, TensorFlow quiet."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    return env


@dataclass
class ChildFailed(RuntimeError):
    """The child exited with an error: its last lines say why."""

    command: str
    code: int
    tail: str

    def __str__(self) -> str:
        return f"{self.command} failed (exit code {self.code}):\n{self.tail}"


def run_training_cli(python: str, arguments: list[str], progress, on_report=None, poll: float = 0.2) -> None:
    """Run ``python -m training ARGUMENTS`` from the plugin folder until it ends.

    Progress lines (JSON objects with ``step``) go to ``on_report``; the other lines to
    ``progress.info``. ``progress.cancelled`` kills the child (its process group) and
    raises :class:`Cancelled`; a failed child raises :class:`ChildFailed`.
    """
    command = [python, "-m", "training", *arguments]
    child = subprocess.Popen(command, cwd=PLUGIN_DIR, env=child_environment(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, bufsize=1,
                             **({"start_new_session": True} if os.name != "nt" else
                                {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}))
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True)
    reader.start()
    tail: deque[str] = deque(maxlen=15)
    try:
        while True:
            try:
                line = lines.get(timeout=poll).rstrip()
            except queue.Empty:
                line = None
            if line:
                report = _report(line)
                if report is not None and on_report is not None:
                    on_report(report)
                elif report is None and not _noise(line):
                    tail.append(line)
                    progress.info(line)
            if progress.cancelled:
                raise Cancelled()
            if line is None and child.poll() is not None and not reader.is_alive() and lines.empty():
                break
    finally:
        if child.poll() is None:
            stop(child)
        reader.join(timeout=5)
    if child.returncode != 0:
        raise ChildFailed(f"python -m training {arguments[0]}", child.returncode, "\n".join(tail))


def stop(child: subprocess.Popen, grace: float = 5.0) -> None:
    """End the child and what it started: terminate, then kill after ``grace`` seconds."""
    try:
        if os.name == "nt":
            child.terminate()
        else:
            os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(child.pid, signal.SIGKILL) if os.name != "nt" else child.kill()
        except ProcessLookupError:
            pass
        child.wait()


def _report(line: str) -> dict | None:
    if not line.startswith('{"step"'):
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def _noise(line: str) -> bool:
    """TensorFlow's start-up chatter, and the run's final state dump (JSON over many lines),
    which say nothing to a mapper."""
    return (line.startswith(("WARNING: All log messages", "I0000", "W0000", "E0000", ' "', "  ")) or "oneDNN" in line
            or line.strip() in ("{", "}", "},", "]", "],"))


def base_python() -> str:
    """The Python a venv is made from: QGIS's own (see core.model.dependencies)."""
    from ..core.model.dependencies import qgis_python

    python = qgis_python()
    return python if Path(python).exists() else sys.executable


def elapsed(started: float) -> str:
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    return f"{minutes} min {seconds:02d} s"
