"""A dialog that runs an installation, showing pip's output: ONNX Runtime into the plugin's
own folder (what it installs imports at once, in the same QGIS session), or the training
environment (a venv, then pip into it). Its commands run one after the other; a failed or
cancelled installation is undone, so the next try starts clean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from qgis.PyQt.QtCore import QProcess, QProcessEnvironment
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout

from ..algorithms import compat
from ..algorithms.training_environment import TrainingEnvironment, TrainingEnvironmentError, child_environment
from ..core.model import dependencies
from ..core.model.dependencies import command_text


@dataclass
class Installation:
    """What the dialog runs: ``commands`` in sequence (``environment``: theirs, None for
    QGIS's own); once all succeeded, ``outcome()`` says whether what was installed works
    (and what to tell the mapper); after a failure or a cancel, ``undo()`` removes what
    was left half made and says so (or returns "")."""

    title: str
    commands: list[list[str]]
    outcome: Callable[[], tuple[bool, str]]
    undo: Callable[[], str] = lambda: ""
    environment: dict[str, str] | None = None

    def as_one_line(self) -> str:
        return " && ".join(command_text(c) for c in self.commands)


def onnxruntime_installation(command: list[str] | None = None) -> Installation:
    def outcome() -> tuple[bool, str]:
        dependencies.refresh()  # what pip just wrote imports now, without restarting QGIS
        problem = dependencies.onnxruntime_problem()
        if problem is None:
            return True, (f"Done: ONNX Runtime {dependencies.onnxruntime_version()} is installed; Detect landslides "
                          "and Saliency map work now.")
        return False, (f"pip finished, but {problem.what} Restart QGIS and try again (an older ONNX Runtime loaded "
                       "in this session stays until then).")

    return Installation("Landslide Mapper: installing ONNX Runtime", [list(command or dependencies.prepare_install())],
                        outcome)


def training_installation(environment: TrainingEnvironment) -> Installation:
    def outcome() -> tuple[bool, str]:
        try:
            python = environment.find()
        except TrainingEnvironmentError as missing:
            return False, f"pip finished, but the environment cannot train yet. {missing}"
        return True, f"Done: the training environment is ready ({python}); Train landslide model uses it from now on."

    def undo() -> str:
        if environment.remove_unfinished():
            return f" The unfinished environment ({environment.venv}) was removed: the next try starts clean."
        return f" {environment.venv} holds more than a venv, so it was left as it is: remove it before the next try."

    return Installation("Landslide Mapper: making the training environment", environment.setup_commands(), outcome,
                        undo, child_environment())


class InstallDialog(QDialog):
    def __init__(self, parent=None, command: list[str] | None = None, installation: Installation | None = None):
        super().__init__(parent)
        self.installation = installation or onnxruntime_installation(command)
        self.step = 0
        self.command = self.installation.commands[0]  # the one running (or next to run)
        self.setWindowTitle(self.installation.title)
        self.status = QLabel(f"Running: {command_text(self.command)}")
        self.status.setWordWrap(True)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.buttons = QDialogButtonBox(compat.CANCEL)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.status, self.output, self.buttons):
            layout.addWidget(widget)
        self.resize(720, 420)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(compat.MERGED_CHANNELS)
        if self.installation.environment is not None:
            environment = QProcessEnvironment()
            for name, value in self.installation.environment.items():
                environment.insert(name, value)
            self.process.setProcessEnvironment(environment)
        self.process.readyReadStandardOutput.connect(self._show_output)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self.succeeded: bool | None = None

    def start(self) -> None:
        self.command = self.installation.commands[self.step]
        steps = len(self.installation.commands)
        self.status.setText(f"{f'Step {self.step + 1} of {steps}: ' if steps > 1 else ''}Running: "
                            f"{command_text(self.command)}")
        self.process.start(self.command[0], self.command[1:])

    def reject(self) -> None:
        """Cancel or Close: a running installation is stopped and undone first."""
        if self.succeeded is None and self.process.state() != compat.NOT_RUNNING:
            self.process.finished.disconnect(self._finished)
            self.process.kill()
            self.process.waitForFinished(10000)
            self._end(False, "Cancelled." + self.installation.undo())
        super().reject()

    def _show_output(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode(errors="replace")
        self.output.appendPlainText(text.rstrip("\n"))

    def _finished(self, exit_code, exit_status) -> None:
        if exit_status != compat.NORMAL_EXIT or exit_code != 0:
            self._end(False, f"The installation failed (exit code {exit_code}).{self.installation.undo()} See the "
                             f"output above, or run in a terminal: {self.installation.as_one_line()}")
        elif self.step + 1 < len(self.installation.commands):
            self.step += 1
            self.start()
        else:
            succeeded, message = self.installation.outcome()
            self._end(succeeded, message + ("" if succeeded else self.installation.undo()))

    def _failed_to_start(self, error) -> None:
        if error == compat.FAILED_TO_START:
            self._end(False, f"Could not start {self.command[0]}.{self.installation.undo()} Run in a terminal: "
                             f"{self.installation.as_one_line()}")

    def _end(self, succeeded: bool, message: str) -> None:
        self.succeeded = succeeded
        self.status.setText(message)
        self.buttons.setStandardButtons(compat.CLOSE)  # nothing runs any more: the button closes
