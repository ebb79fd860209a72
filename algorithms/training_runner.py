"""Training in a child process, for the "Train landslide model" algorithm (no QGIS import):
the training CLI run in the Python that has TensorFlow (training_environment.py), its
progress lines read, cancel.

The child runs ``python -m training`` from the plugin folder, the same CLI a developer
runs (training/cli.py), and prints one JSON progress line per validation and every few
seconds between (``--progress-json``).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import Cancelled
from .training_environment import child_environment

PLUGIN_DIR = Path(__file__).resolve().parent.parent


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


def elapsed(started: float) -> str:
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    return f"{minutes} min {seconds:02d} s"
