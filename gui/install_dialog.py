"""A dialog that installs ONNX Runtime into QGIS's Python with pip, showing pip's output."""

from __future__ import annotations

from qgis.PyQt.QtCore import QProcess
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout

from ..algorithms import compat
from ..core.model.dependencies import command_text, install_command


class InstallDialog(QDialog):
    def __init__(self, parent=None, command: list[str] | None = None):
        super().__init__(parent)
        self.command = command or install_command()
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
        self.succeeded = exit_code == 0
        self.status.setText("Done. Restart QGIS to use Landslide Mapper." if self.succeeded else
                            f"The installation failed (exit code {exit_code}); see the output above, or run "
                            f"in a terminal: {command_text(self.command)}")

    def _failed_to_start(self, error) -> None:
        if error == compat.FAILED_TO_START:
            self.succeeded = False
            self.status.setText(f"Could not start {self.command[0]}; run in a terminal: {command_text(self.command)}")
