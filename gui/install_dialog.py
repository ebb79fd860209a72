"""A dialog that installs ONNX Runtime into the plugin's own folder with pip, showing pip's
output; what it installs imports at once, in the same QGIS session."""

from __future__ import annotations

from qgis.PyQt.QtCore import QProcess
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout

from ..algorithms import compat
from ..core.model import dependencies
from ..core.model.dependencies import command_text


class InstallDialog(QDialog):
    def __init__(self, parent=None, command: list[str] | None = None):
        super().__init__(parent)
        self.command = list(command or dependencies.prepare_install())
        self.setWindowTitle("Landslide Mapper: installing ONNX Runtime")
        self.status = QLabel(f"Running: {command_text(self.command)}")
        self.status.setWordWrap(True)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.buttons = QDialogButtonBox(compat.CLOSE)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.status, self.output, self.buttons):
            layout.addWidget(widget)
        self.resize(720, 420)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(compat.MERGED_CHANNELS)
        self.process.readyReadStandardOutput.connect(self._show_output)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self.succeeded: bool | None = None

    def start(self) -> None:
        self.process.start(self.command[0], self.command[1:])

    def _show_output(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode(errors="replace")
        self.output.appendPlainText(text.rstrip("\n"))

    def _finished(self, exit_code, _status) -> None:
        if exit_code != 0:
            self.succeeded = False
            self.status.setText(f"The installation failed (exit code {exit_code}); see the output above, or run "
                                f"in a terminal: {command_text(self.command)}")
            return
        dependencies.refresh()  # what pip just wrote imports now, without restarting QGIS
        problem = dependencies.onnxruntime_problem()
        self.succeeded = problem is None
        self.status.setText(
            f"Done: ONNX Runtime {dependencies.onnxruntime_version()} is installed; Detect landslides and "
            "Saliency map work now." if problem is None else
            f"pip finished, but {problem.what} Restart QGIS and try again (an older ONNX Runtime loaded in this "
            "session stays until then).")

    def _failed_to_start(self, error) -> None:
        if error == compat.FAILED_TO_START:
            self.succeeded = False
            self.status.setText(f"Could not start {self.command[0]}; run in a terminal: {command_text(self.command)}")
