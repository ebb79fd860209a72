"""The training environment (algorithms/training_environment.py) and its installer: a real
venv made by the setup commands, a real pip install into it, the desktop's question.

TensorFlow cannot be downloaded in a test, so the package list is the one thing swapped:
pip installs a tiny wheel made here (``--no-index``: offline), and the environment is
complete when that wheel's module is there. Everything else (the venv command, pip, the
dialog's process chain, the removal of a half-made venv, the plugin's question) is real.
"""

import base64
import hashlib
import threading
import time
import zipfile
from pathlib import Path

import pytest

ALG = "landslidemapper:train"
MODULE = "lm_tiny_training"
DECLINED = "landslide_mapper/training_install_declined"


def tiny_wheel(folder: Path) -> Path:
    """A pure-Python wheel holding one module, ``lm_tiny_training``."""
    wheel = folder / f"{MODULE}-1.0-py3-none-any.whl"
    info = f"{MODULE}-1.0.dist-info"
    files = {f"{MODULE}.py": "TRAINS = True\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: lm-tiny-training\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
                     f"{len(text.encode())}\n" for name, text in files.items()) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


def environment(tmp_path: Path, *pip_arguments: str):
    """The plugin's venv in this test's profile; pip installs ``pip_arguments`` (default: the
    tiny wheel, offline), and the venv is complete when the wheel's module is there."""
    from landslide_mapper.algorithms.training_environment import VENV_NAME, TrainingEnvironment, base_python

    return TrainingEnvironment(tmp_path / "profile" / "python" / VENV_NAME, base_python(),
                               packages=pip_arguments or ("--no-index", str(tiny_wheel(tmp_path))), needed=(MODULE,))


def installed(dialog, app, timeout: float = 120.0) -> bool | None:
    """Let the dialog's commands run (the event loop a mapper's session would spin) until it ends."""
    deadline = time.monotonic() + timeout
    while dialog.succeeded is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return dialog.succeeded


@pytest.fixture
def no_resolver(monkeypatch):
    """The module's desktop hook as qgis_process has it (none), restored afterwards."""
    from landslide_mapper.algorithms import training_environment

    monkeypatch.setattr(training_environment, "_resolver", None)
    monkeypatch.setattr(training_environment, "_desktop_hint", "")
    monkeypatch.delenv(training_environment.PYTHON_VARIABLE, raising=False)


def test_setup_is_two_commands_from_qgis_python_with_the_pins(tmp_path):
    from landslide_mapper.algorithms.training_environment import TRAINING_PACKAGES, TrainingEnvironment, base_python
    from locations import ROOT

    env = TrainingEnvironment.in_profile(tmp_path)
    make, install = env.setup_commands()
    assert make == [base_python(), "-m", "venv", "--system-site-packages", "--clear",
                    str(tmp_path / "landslide_mapper_training")]
    assert install[:4] == [str(env.python), "-m", "pip", "install"]
    pinned = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.split("==")[0] in TRAINING_PACKAGES]
    assert len(pinned) >= 3 and set(pinned) <= set(install)  # requirements.txt's pins, TensorFlow's included
    assert env.setup_command().startswith(f"{base_python()} -m venv --system-site-packages --clear ")
    assert f" && {env.python} -m pip install " in env.setup_command()


@pytest.mark.slow  # makes a real venv (ensurepip: about 5 s)
def test_a_named_venv_folder_is_the_only_one_looked_in(tmp_path, no_resolver, monkeypatch):
    """For tests and administrators: $LANDSLIDE_MAPPER_TRAINING_VENV moves the venv out of the
    profile, and a development checkout's .venv is no longer a candidate."""
    import dataclasses
    import sys

    from landslide_mapper.algorithms import training_environment as te

    checkout = tmp_path / "checkout"
    te.venv_python(checkout / ".venv").parent.mkdir(parents=True)
    te.venv_python(checkout / ".venv").symlink_to(sys.executable)  # a checkout's Python that has what is needed
    monkeypatch.setattr(te, "PLUGIN_DIR", checkout)
    monkeypatch.delenv(te.VENV_VARIABLE, raising=False)
    profile = dataclasses.replace(te.TrainingEnvironment.in_profile(tmp_path / "profile"), needed=("json",))
    assert profile.find() == str(te.venv_python(checkout / ".venv"))
    monkeypatch.setenv(te.VENV_VARIABLE, str(tmp_path / "named"))
    named = dataclasses.replace(te.TrainingEnvironment.in_profile(tmp_path / "profile"), needed=("json",))
    assert named.venv == tmp_path / "named" and str(tmp_path / "named") in named.setup_command()
    with pytest.raises(te.TrainingEnvironmentError) as missing:
        named.find()
    assert missing.value.installable and str(tmp_path / "named") in str(missing.value)


def test_the_dialog_makes_the_venv_and_a_second_find_reuses_it(qgis_app, tmp_path, no_resolver):
    from landslide_mapper.algorithms import training_environment
    from landslide_mapper.gui.install_dialog import InstallDialog, training_installation

    env = environment(tmp_path)
    with pytest.raises(training_environment.TrainingEnvironmentError, match="venv --system-site-packages"):
        env.find()
    dialog = InstallDialog(installation=training_installation(env))
    dialog.start()
    assert installed(dialog, qgis_app), dialog.output.toPlainText() + dialog.status.text()
    assert "Step 2 of 2" not in dialog.status.text() and "the training environment is ready" in dialog.status.text()
    assert "Successfully installed lm-tiny-training-1.0" in dialog.output.toPlainText()
    assert env.find() == str(env.python)
    assert "include-system-site-packages = true" in (env.venv / "pyvenv.cfg").read_text()  # GDAL's osgeo from there

    made = (env.venv / "pyvenv.cfg").stat().st_mtime_ns
    asked = []
    training_environment.set_resolver(asked.append, "In QGIS: …")
    assert training_environment.resolve(env) == str(env.python) and asked == []  # found: nothing offered again
    assert (env.venv / "pyvenv.cfg").stat().st_mtime_ns == made  # not made again


@pytest.mark.slow  # makes a real venv (ensurepip: about 5 s)
def test_a_failed_install_removes_the_half_made_venv(qgis_app, tmp_path, no_resolver):
    from landslide_mapper.gui.install_dialog import InstallDialog, training_installation

    env = environment(tmp_path, "--no-index", "lm-no-such-package")
    dialog = InstallDialog(installation=training_installation(env))
    dialog.start()
    assert installed(dialog, qgis_app) is False
    assert dialog.step == 1 and "No matching distribution" in dialog.output.toPlainText()  # the venv was made
    assert "failed (exit code 1)" in dialog.status.text() and "was removed" in dialog.status.text()
    assert f"{env.base_python} -m venv" in dialog.status.text()  # the one command, to run by hand
    assert not env.venv.exists()


@pytest.mark.slow  # makes a real venv (ensurepip: about 5 s)
def test_cancel_stops_pip_and_removes_the_venv(qgis_app, tmp_path, no_resolver):
    """A download that hangs (an index that accepts and never answers): Cancel ends pip at
    once and leaves no venv."""
    import socket

    from landslide_mapper.gui.install_dialog import InstallDialog, training_installation

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        env = environment(tmp_path, "--index-url", f"http://127.0.0.1:{silent.getsockname()[1]}/simple",
                          "--timeout", "60", "lm-never-arrives")
        dialog = InstallDialog(installation=training_installation(env))
        dialog.start()
        deadline = time.monotonic() + 120
        while dialog.step == 0 and dialog.succeeded is None and time.monotonic() < deadline:
            qgis_app.processEvents()
            time.sleep(0.02)
        assert dialog.step == 1 and dialog.succeeded is None, dialog.output.toPlainText()  # pip waits
        time.sleep(1.0)
        started = time.monotonic()
        dialog.reject()
        assert time.monotonic() - started < 10 and dialog.succeeded is False
        assert "Cancelled" in dialog.status.text() and not env.venv.exists()
    finally:
        silent.close()


# --- who asks: the desktop, on the main thread, once; never qgis_process or a worker thread ---------

@pytest.fixture
def desktop(qgis_app, qgis_iface, provider, tmp_path, monkeypatch):
    """The plugin loaded as the desktop loads it; Train's environment in this test's profile,
    installing the tiny wheel; the mapper's answers (``answers``, last first) recorded in ``asked``."""
    from landslide_mapper.algorithms import train, training_environment
    from landslide_mapper.gui import install_dialog
    from landslide_mapper.plugin import LandslideMapperPlugin
    from qgis.core import QgsSettings
    from qgis.PyQt.QtWidgets import QMessageBox

    monkeypatch.delenv(training_environment.PYTHON_VARIABLE, raising=False)
    env = environment(tmp_path)
    monkeypatch.setattr(train, "training_environment_here", lambda: env)
    state = {"answers": [QMessageBox.No], "asked": [], "env": env}
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: state["asked"].append(text) or state["answers"][-1])
    # nobody closes the dialog in a test: it returns once its commands have ended
    monkeypatch.setattr(install_dialog.InstallDialog, "exec", lambda self: installed(self, qgis_app))
    QgsSettings().remove(DECLINED)
    plugin = LandslideMapperPlugin(qgis_iface)
    plugin.initProcessing = lambda: None  # the session's provider is registered already
    plugin.initGui()
    state["plugin"] = plugin
    yield state
    plugin.unload()
    QgsSettings().remove(DECLINED)


def can_execute():
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(ALG).canExecute()


@pytest.mark.slow  # makes a real venv (ensurepip: about 5 s)
def test_opening_train_asks_once_makes_the_venv_and_never_again(desktop):
    from qgis.PyQt.QtWidgets import QMessageBox

    desktop["answers"].append(QMessageBox.Yes)
    assert can_execute() == (True, "")
    env = desktop["env"]
    assert len(desktop["asked"]) == 1 and "about 600 MB" in desktop["asked"][0]
    assert str(env.venv) in desktop["asked"][0] and "QGIS's own Python is left untouched" in desktop["asked"][0]
    assert env.python.is_file()
    made = (env.venv / "pyvenv.cfg").stat().st_mtime_ns
    assert can_execute() == (True, "") and len(desktop["asked"]) == 1  # found: no question, no new venv
    assert (env.venv / "pyvenv.cfg").stat().st_mtime_ns == made


def test_a_no_is_remembered_and_the_menu_still_offers(desktop):
    from qgis.core import QgsSettings

    can, why = can_execute()
    assert not can and len(desktop["asked"]) == 1
    assert "Plugins > Landslide Mapper > Install training environment" in why and "-m venv" in why
    assert QgsSettings().value(DECLINED, False, type=bool) and not desktop["env"].venv.exists()
    assert not can_execute()[0] and len(desktop["asked"]) == 1  # the No is honoured
    desktop["plugin"].training_action.trigger()  # the menu entry asks even so (No again: nothing made)
    assert len(desktop["asked"]) == 2 and not desktop["env"].venv.exists()


def test_a_worker_thread_never_asks(desktop):
    result = {}
    worker = threading.Thread(target=lambda: result.update(answer=can_execute()))
    worker.start()
    worker.join(60)
    can, why = result["answer"]
    assert not can and desktop["asked"] == [] and "-m venv --system-site-packages" in why


def test_headless_never_asks_and_names_the_one_command(provider, tmp_path, no_resolver, monkeypatch):
    """qgis_process loads the provider, never the GUI: no resolver, and the message is the
    command to run (no menu entry named)."""
    from landslide_mapper.algorithms import train

    env = environment(tmp_path)
    monkeypatch.setattr(train, "training_environment_here", lambda: env)
    can, why = can_execute()
    assert not can and why.endswith(env.setup_command()) and "Plugins >" not in why
    assert "about 600 MB" in why and not env.venv.exists()
